// One import for the environment-build tests' package sources: a wheel directory for pip, an npm registry and lockfile.
export * from './python-wheels.ts';
export * from './npm-packages.ts';
export * from './npm-registry.ts';
