"""Form fields that keep keys typed ahead in order.

Layer: tui. Textual moves the focus after a key is handled, but the keys behind it (a user name,
Enter and a password sent in one burst by tmux, a fast typist, a card scanner) were already forwarded
to the old field. A `TypeAheadInput` with a `next_field` remembers that it was submitted and hands every
later key to that field until it gets the focus back, so nothing lands in the wrong field.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class TypeAheadInput(Input):
    def __init__(self, *, next_field: str, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.next_field = next_field
        self._submitted = False

    async def action_submit(self) -> None:
        self._submitted = True
        await super().action_submit()

    def _on_focus(self, event: events.Focus) -> None:
        self._submitted = False
        super()._on_focus(event)

    async def _on_key(self, event: events.Key) -> None:
        if not self._submitted:
            if event.key == "enter":  # here, in this field's own key order (a binding would run later)
                event.stop()
                event.prevent_default()
                await self.action_submit()
            else:
                await super()._on_key(event)
            return
        target = self.screen.query_one(f"#{self.next_field}", Input)
        event.stop()
        event.prevent_default()
        if event.key == "enter":
            await target.action_submit()
        elif event.is_printable and event.character is not None:
            target.insert_text_at_cursor(event.character)
        elif event.key == "backspace":
            target.action_delete_left()
