"""Journeys: members enter on a trigger (entering), each step fires on its day (steps),
messages are sent and tracked (messages), and the report compares entrants with the
control group (report); views serve the tracked links."""
