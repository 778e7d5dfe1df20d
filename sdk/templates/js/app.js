// The `{{ name }}` module: one action, `hello`. Add actions to
// `wit/world.wit` and export them here as functions (camelCase names).
import { log } from 'wfhost:module/log@0.1.0';

export function hello(name) {
  if (name.trim() === '') {
    // A function returning `result<T, action-error>` fails by throwing the
    // error record.
    throw {
      code: 'empty-name',
      message: '`name` is empty; pass the name of someone to greet',
      retryable: false,
      details: undefined,
    };
  }
  log('info', 'greeting', [['name', name]]);
  return `Hello, ${name}!`;
}
