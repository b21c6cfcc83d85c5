// The shape of a project secret (SPEC §10), without dependencies: the server validates with it, the CLI bounds what it reads from stdin by it.
export const SECRET_KEY = /^[A-Z][A-Z0-9_]{0,63}$/;
/** 64 KiB of UTF-8: a certificate chain or a service-account JSON fits; a data set does not belong here. */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;
/**
 * The shortest value: every value is redacted from what a run returns whatever its length (a leak is worse than a wrecked
 * log), and a value of one to three characters would turn every occurrence of, say, `a` into `***`.
 */
export const SECRET_VALUE_MIN_LENGTH = 4;
