# The sandrun server in a container. Built with no registry: BASE_IMAGE is a locally built image with git and Node 20
# (scripts/server-image.sh builds sandrun/server-base:node20). node_modules comes from the checkout's `npm ci`, built
# for the same Node and glibc (bookworm), so better-sqlite3's native addon needs no compiler in the image.
ARG BASE_IMAGE=sandrun/server-base:node20
FROM ${BASE_IMAGE}
# Lets `docker image prune --filter label=sandrun.server=true` remove the untagged images that rebuilds leave.
LABEL sandrun.server=true
WORKDIR /opt/sandrun
COPY package.json package-lock.json tsconfig.json ./
COPY node_modules ./node_modules
COPY bin ./bin
COPY images ./images
COPY scripts/build.js ./scripts/build.js
COPY src ./src
RUN node scripts/build.js
ENV NODE_ENV=production \
    SANDRUN_HOST=0.0.0.0 \
    SANDRUN_PORT=8080 \
    SANDRUN_DATA_DIR=/var/lib/sandrun
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/sandrun.js", "serve"]
