"""Rasa input channels: Rasa's connectors, subclassed where this project needs more from them."""
