"""Keys typed in one burst (a paste, a fast typist, a slow machine) act in the order typed.

Textual queues every key of a burst for the widget focused when the burst arrived, before
the first key acts. A key that moves the focus ("/" to the filter box, Enter or Tab out
of it) would leave the keys behind it with the widget it left. So the focusable widgets
of a pane hand such a key on: posted again to the app, as a new key press, it goes where
the focus is now; and the keys that move the focus move it at once (``focus_now``), not a
turn later.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.binding import Binding
from textual.widget import Widget


def hand_on_if_left(widget: Widget, event: events.Key) -> bool:
    """Post ``event`` again if the focus has left ``widget`` since it was queued for it
    (another widget, or a dialog opened above); True when it was handed on (the caller
    does nothing more with it)."""
    if widget.app.screen is widget.screen and widget.screen.focused is widget:
        return False
    event.stop()
    event.prevent_default()
    widget.app.post_message(events.Key(event.key, event.character))
    return True


def focus_now(widget: Widget) -> None:
    """Focus ``widget`` before the next queued key is handled (``focus()`` waits a turn,
    and a key typed in the same burst would still go to the widget focused before)."""
    if widget.is_mounted:
        widget.screen.set_focus(widget)
    else:
        widget.focus()


MOVING_KEYS = frozenset({"tab", "shift+tab"})
"""Keys that move the focus to the other pane: acted on at once by the widget that
has them (the screen's binding would act a turn later)."""


def move_to_other_pane(widget: Widget) -> None:
    """What Tab does, at once: the screen's own action (run_action waits a turn)."""
    action = getattr(widget.screen, "action_focus_other", None)
    if action is not None:
        action()


async def run_screen_key(widget: Widget, key: str) -> bool:
    """Act on ``key`` by the binding its screen has for it, now: looked up when the key
    has bubbled up, it would meet the focus that a key behind it has moved ("d" then
    Enter: the Enter would open the edit form before the delete's confirmation).
    True when the screen has such a key."""
    for binding in getattr(type(widget.screen), "BINDINGS", ()):
        if isinstance(binding, Binding) and key in binding.key.split(","):
            await widget.screen.run_action(binding.action)
            return True
    return False


async def act_in_turn(
    widget: Widget, event: events.Key, open_filter: Callable[[], None] | None
) -> None:
    """The keys a pane's focused widget acts on as it handles them, not when they have
    bubbled up: "/" opens the filter (the keys behind it are for the box), Tab moves to
    the other pane, and any key the screen binds runs its action now."""
    if event.key == "slash" and open_filter is not None:
        event.stop()
        open_filter()
    elif event.key in MOVING_KEYS:
        event.stop()
        move_to_other_pane(widget)
    elif await run_screen_key(widget, event.key):
        event.stop()
