"""Webhooks: events recorded in the store, delivered signed to registered receivers.

``events`` builds payloads, ``sources`` finds the facts that make events, ``signing`` signs
requests (and checks them for receivers), ``targets`` refuses URLs that point inside the
network, ``registry`` adds and removes webhooks, ``delivery`` sends what is due."""
