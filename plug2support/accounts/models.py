"""Users, companies (the tenants), memberships with a role, and invitations (A1–A4)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class Theme(models.TextChoices):
    SYSTEM = "system", "Follow the system"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class User(AbstractUser):
    """A person: operator of one or more companies, or staff. Logs in with e-mail."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    name = models.CharField(max_length=150)
    # M10: the person's own picture (a storage name, checked by content: accounts/profile.py)
    # and how the console looks for them ("system" follows the device's light/dark setting).
    avatar = models.CharField(max_length=200, blank=True, default="")
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    objects = UserManager()  # type: ignore[assignment,misc]

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def avatar_url(self) -> str:
        """Where the picture is served (accounts/profile_views.py avatar); "" without one."""
        return f"/account/avatars/{self.pk}/{self.avatar.rsplit('/', 1)[-1]}" if self.avatar else ""

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email


class Company(models.Model):
    """The tenant. Everything it owns is invisible to other companies."""

    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # N5: set by an owner on the Team page; members without two-factor are walked through
    # setting it up (accounts/twofactor.py).
    require_two_factor = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"


# What each role may do (A3). Operators chat; admins also manage settings; owners everything.
ADMIN_ROLES = (Role.OWNER, Role.ADMIN)


class Status(models.TextChoices):
    """Presence (C5) as the operator sets it; the console connection decides the rest."""

    ONLINE = "online", "Online"
    AWAY = "away", "Away"
    OFFLINE = "offline", "Offline"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ONLINE)
    # When the last console socket of this membership closed (presence grace and "away").
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "company"], name="one_membership_per_company")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.email} → {self.company}"

    @property
    def is_expired(self) -> bool:
        age = timezone.now() - self.created_at
        return age > timedelta(days=settings.INVITATION_MAX_AGE_DAYS)

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and not self.is_expired


class UserSession(models.Model):
    """M10: one logged-in session of a person, written at login (accounts/sessions.py) so the
    profile can list them and end them. The Django session row stays the truth: a row whose
    session is gone is not shown and is deleted when seen."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="login_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} ({self.ip})"
