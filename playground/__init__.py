"""The playground: canarybot with every part it talks to, on one machine, for a person to try.

``canarybot playground`` starts local-slack (a Slack emulator with a web UI), Redis, the
Kubernetes API simulator loaded with the example services, a traffic app with a Prometheus
scraping it, and the bot in Socket Mode; ``--scripted`` plays whole releases by itself. A
composition root like the CLI: it may import bot, handlers, k8s and sim; none of them imports it.
"""
