"""Real-time conversation: sessions, the outgoing timeline, barge-in and echo handling."""
