// What sandrun's middleware adds to an express request.
import type { Principal } from '../auth/principal.ts';

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    principal?: Principal;
  }
}

export {};
