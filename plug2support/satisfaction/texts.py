"""Every word the rating shows outside the widget (the public page, the mail, the console's
thread line), in one place for the translations of issue 23. The widget's own are in
static/widget/rating.js, `TEXT`."""

from __future__ import annotations

# score → (face, label); the widget's FACES in rating.js say the same.
FACES: dict[int, tuple[str, str]] = {
    1: ("😞", "Very bad"),
    2: ("😕", "Bad"),
    3: ("😐", "OK"),
    4: ("😊", "Good"),
    5: ("😄", "Very good"),
}


def rated_line(score: int, comment: str) -> str:
    """The rating event's text (the console's thread, the widget's history)."""
    face, label = FACES[score]
    line = f"Rated {score} of 5 ({label}) {face}"
    return f"{line}: “{comment}”" if comment else line


ASKED_LINE = "The visitor was asked to rate the conversation"
MAIL_SUBJECT = "Your conversation with {company} is resolved"
LOW_RATING_TITLE = "A low rating: {score} of 5"
