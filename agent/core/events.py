"""The events webhooks are told about: one vocabulary for the steps that record facts, the
delivery that sends them and the commands that subscribe to them."""

from __future__ import annotations

#: a person decided an item (accept, fix, reject), or took such a decision back (undo)
ITEM_DECIDED = "item.decided"
#: a calibration finished, and items were routed with its result
CALIBRATION_DONE = "calibration.done"
#: the audit alarm was raised or cleared
AUDIT_ALARM = "audit.alarm"
EVENT_TYPES: tuple[str, ...] = (ITEM_DECIDED, CALIBRATION_DONE, AUDIT_ALARM)
