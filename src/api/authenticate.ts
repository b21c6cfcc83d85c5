// Bearer authentication and per-route scopes: 401 without a valid credential, 403 without the scope.
import type { Request, RequestHandler } from 'express';
import type { Authenticator } from '../auth/authenticator.ts';
import { hasScope, type Principal, type Scope } from '../auth/principal.ts';
import { SandrunError } from '../errors.ts';
import './express-types.ts';

export function authenticate(authenticator: Authenticator): RequestHandler {
  return (request, _response, next) => {
    authenticator
      .authenticate(request.headers.authorization)
      .then((principal) => {
        request.principal = principal;
        next();
      })
      .catch(next);
  };
}

export function principalOf(request: Request): Principal {
  if (!request.principal) throw new SandrunError('unauthorized', 'missing credentials');
  return request.principal;
}

export function requireScope(scope: Scope): RequestHandler {
  return (request, _response, next) => {
    const principal = principalOf(request);
    if (!hasScope(principal, scope)) return next(new SandrunError('forbidden', `this credential lacks the scope ${scope}`, { scope }));
    next();
  };
}
