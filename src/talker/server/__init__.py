"""The REST service: one FastAPI app (`app.create_app`) for avatars, voices, videos, speech, chat and knowledge."""
