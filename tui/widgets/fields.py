"""Form fields that keep keys typed ahead in order.

Layer: tui. Textual moves the focus after a key is handled, but the keys behind it (a user name,
Enter and a password sent in one burst by tmux, a fast typist, a card scanner) were already forwarded
to the old field. A `TypeAheadInput` with a `next_field` remembers that it was submitted and hands every
later key to that field until it gets the focus back, so nothing lands in the wrong field.

It also moves the focus itself, and only once no key waits in its own queue: the app sends every later
key straight to the next field, after all the keys this one forwarded. Moved any earlier (by a handler
of `Submitted`, a message later), the two fields' queues would run side by side and could interleave the
keys of a password.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class TypeAheadInput(Input):
    def __init__(self, *, next_field: str, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.next_field = next_field
        self._submitted = False
        self._hand_over_queued = False

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
                self._hand_over()
            else:
                await super()._on_key(event)
            return
        target = self._next()
        event.stop()
        event.prevent_default()
        if event.key == "enter":
            await target.action_submit()
        elif event.is_printable and event.character is not None:
            target.insert_text_at_cursor(event.character)
        elif event.key == "backspace":
            target.action_delete_left()
        self._hand_over()

    def _queued_hand_over(self) -> None:
        self._hand_over_queued = False
        self._hand_over()

    def _next(self) -> Input:
        return self.screen.query_one(f"#{self.next_field}", Input)

    def _hand_over(self) -> None:
        """Focus the next field now (no await until it is done) if no key typed ahead waits here, else
        once this field's queue is through the keys ahead of this call."""
        if not self._submitted or self.screen.focused is not self:
            return
        if self.message_queue_size:
            if not self._hand_over_queued:  # one at a time: two would find each other queued forever
                self._hand_over_queued = True
                self.call_later(self._queued_hand_over)
            return
        target = self._next()
        target.select_on_focus = False  # its text was typed ahead: the next key must not replace it
        self.screen.set_focus(target)
