// `npm start`: serves sandrun with the configuration from the environment.
import { serve } from './serve.ts';

await serve();
