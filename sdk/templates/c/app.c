// The `{{ name }}` module: one action, `hello`. Add actions to
// `wit/world.wit`, rebuild, and implement the new `exports_{{ c_name }}_*`
// functions declared in gen/{{ c_name }}.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "{{ c_name }}.h"

// `name` belongs to this function; `ret` and `err` are freed by the
// generated post-return code once the host has read them.
bool exports_{{ c_name }}_hello({{ c_name }}_string_t *name, {{ c_name }}_string_t *ret,
                          {{ c_name }}_action_error_t *err) {
  size_t start = 0;
  while (start < name->len && (name->ptr[start] == ' ' || name->ptr[start] == '\t')) {
    start++;
  }
  if (start == name->len) {
    {{ c_name }}_string_free(name);
    {{ c_name }}_string_dup(&err->code, "empty-name");
    {{ c_name }}_string_dup(&err->message, "`name` is empty; pass the name of someone to greet");
    err->retryable = false;
    err->details.is_some = false;
    return false;
  }

  {{ c_name }}_string_t message;
  {{ c_name }}_string_dup(&message, "greeting");
  {{ c_name }}_tuple2_string_string_t field;
  {{ c_name }}_string_dup(&field.f0, "name");
  field.f1 = *name;
  {{ c_name }}_list_tuple2_string_string_t fields = {&field, 1};
  wfhost_module_log_log(WFHOST_MODULE_LOG_LEVEL_INFO, &message, &fields);
  {{ c_name }}_string_free(&message);
  {{ c_name }}_string_free(&field.f0);

  size_t len = strlen("Hello, !") + name->len;
  char *text = malloc(len + 1);
  snprintf(text, len + 1, "Hello, %.*s!", (int)name->len, (const char *)name->ptr);
  {{ c_name }}_string_dup_n(ret, text, len);
  free(text);
  {{ c_name }}_string_free(name);
  return true;
}
