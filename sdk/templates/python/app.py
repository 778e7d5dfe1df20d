"""The `{{ name }}` module: one action, `hello`. Add actions to
`wit/world.wit` and implement them as methods here."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import log
from wit_world.imports.types import ActionError


class WitWorld(wit_world.WitWorld):
    def hello(self, name: str) -> str:
        if not name.strip():
            raise Err(
                ActionError(
                    code="empty-name",
                    message="`name` is empty; pass the name of someone to greet",
                    retryable=False,
                    details=None,
                )
            )
        log.log(log.Level.INFO, "greeting", [("name", name)])
        return f"Hello, {name}!"
