"""Taobao's message service (TMC): the toplink frames, the messages, topics and the listener."""
