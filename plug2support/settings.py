"""Every setting comes from the environment (see README, "Configuration").

The embedded default (no variables at all) is SQLite in ./var, the in-process bus, the
console e-mail backend and local-memory cache: what `make run` uses on a fresh machine.
"""

from datetime import timedelta
from pathlib import Path

import environ

from plug2support.lib.secret_key import var_dir_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("P2S_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# N6: no key from the repository, ever. Production sets SECRET_KEY (`web` refuses to start
# without it, `check --deploy` warns); the embedded default and the tests use a random key
# made at their first start and kept in the var directory (lib/secret_key.py, mode 0600).
SECRET_KEY_FROM_ENVIRONMENT = bool(env.str("SECRET_KEY", default=""))
SECRET_KEY = env.str("SECRET_KEY", default="") or var_dir_secret_key(VAR_DIR)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The product's public base URL: used in e-mails and in the widget snippet.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "plug2support.accounts",
    "plug2support.widgets",
    "plug2support.conversations",
    "plug2support.realtime",
    "plug2support.ops",
    "plug2support.notifications",
    "plug2support.attachments",
    "plug2support.contacts",
    "plug2support.billing",
    "plug2support.knowledge",
    "plug2support.mail",
    "plug2support.replies",
    "plug2support.sla",
    "plug2support.push",
    "plug2support.satisfaction",
    "plug2support.reports",
    "axes",
    "csp",
    # N5 two-factor (docs/architecture.md, "Two-factor authentication").
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # N5: request.user.is_verified(), then members whose company requires two-factor are
    # sent to set it up (accounts/twofactor.py).
    "django_otp.middleware.OTPMiddleware",
    "plug2support.accounts.twofactor.TwoFactorRequiredMiddleware",
    "plug2support.accounts.sessions.SessionActivityMiddleware",  # M10: sessions' last active
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # Last, so it sees the login view's answer: a locked-out login becomes a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "plug2support.urls"
ASGI_APPLICATION = "plug2support.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "plug2support" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "plug2support.accounts.context_processors.current_company",
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'plug2support.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock when a
    # transaction starts, so two writers queue instead of failing with "database is locked"
    # half-way through (the claim and sequence-number transactions read, then write).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # Under ASGI every request runs its sync code in a thread of its own, so a persistent
    # connection (CONN_MAX_AGE > 0) would be opened per request and never reused: Django's
    # advice is CONN_MAX_AGE=0 with the driver's pool, which hands connections back at the
    # end of each request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=2),
        "max_size": env.int("DB_POOL_MAX", default=20),
        "timeout": 10,
    }

# PostgreSQL: the statements every visitor message runs (lib/rows.hot_cursor) are prepared on
# each connection's first use, so PostgreSQL parses and plans them once. Django leaves
# prepared statements off for transaction-mode PgBouncer before 1.21 (max_prepared_statements);
# behind one of those, set DB_PREPARED_STATEMENTS=false. Django's own cursors never prepare.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Real-time bus: Redis pub/sub when REDIS_URL is set (several processes), else in-process.
REDIS_URL = env.str("REDIS_URL", default="")
# One deployment's name on a Redis it may share with others: the bus channel
# (`<prefix>:events:db<n>`, realtime/hub.py) and every cache key (`<prefix>:1:<key>`) carry it.
REDIS_PREFIX = env.str("REDIS_PREFIX", default="p2s")

if REDIS_URL:
    CACHES = {
        "default": {
            # Degrades to per-process memory while Redis does not answer (lib/cache.py).
            "BACKEND": "plug2support.lib.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
            # A Redis that stops answering (rather than refusing) costs a request at most
            # this long before the cache falls back.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# N5: failed logins are throttled by django-axes, per account and per client address
# (accounts/throttle.py; docs/architecture.md, "Security", says why axes): its backend refuses
# a locked-out login before the password is checked, its rows live in the database.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10  # failed logins within the cool-off, per account and per address
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
# A success must not wipe the address's failures (a sprayer would log in to its own account
# to reset them), and refused tries during a lock do not move the time the page announces.
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "plug2support.accounts.throttle.login_username"
AXES_CLIENT_IP_CALLABLE = "plug2support.accounts.throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "plug2support.accounts.throttle.login_locked_out"
AXES_SENSITIVE_PARAMETERS = ["username", "csrfmiddlewaretoken"]
AXES_DISABLE_ACCESS_LOG = True  # failed attempts only; successful logins are not kept
# Password-reset requests and sign-ups: the cache limiter (accounts/throttle.py).
PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = 3  # per e-mail address asked for
PASSWORD_RESETS_PER_CLIENT_PER_HOUR = 10
SIGNUPS_PER_CLIENT_PER_HOUR = 10

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PUBLIC_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"  # the widget frame overrides this with CSP frame-ancestors
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# N6 under https (PUBLIC_URL): HSTS, and plain http redirected (the TLS proxy in front says
# https by X-Forwarded-Proto, which uvicorn's proxy headers turn into the request's scheme;
# /health stays reachable over http for load balancers).
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=365 * 24 * 3600 if SESSION_COOKIE_SECURE
                              else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", default=True)
# The preload directive alone changes nothing; the domain's owner may then submit it.
SECURE_HSTS_PRELOAD = env.bool("HSTS_PRELOAD", default=True)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE
SECURE_REDIRECT_EXEMPT = [r"^health$"]
# N6: every page without a policy of its own gets this one (django-csp). The widget frame,
# help pages, attachments and widget images set their own, which the middleware keeps.
# No inline script or style anywhere (json_script data blocks are not run), so no nonces.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        # Card payments: the billing page's form is answered by a redirect to Stripe.
        "form-action": ["'self'", "https://checkout.stripe.com"],
        "frame-ancestors": ["'none'"],  # the widget preview allows 'self' (widgets/views.py)
    },
}
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: [] for feature in ("accelerometer", "camera", "geolocation", "gyroscope",
                                "magnetometer", "microphone", "payment", "usb")
}

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "plug2support" / "static"]
# Uploaded files (attachments) go through Django's storage API and are only ever served by
# the attachments views (access checks, safe headers), never from a public media URL.
# Local files by default; production may use S3-compatible storage with django-storages:
# STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {...}}.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(VAR_DIR / "media")}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders too, so `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# E-mail: EMAIL_URL, e.g. smtp://user:pass@host:587/?tls=True, consolemail://, filemail://path
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
if EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
    EMAIL_BACKEND = "plug2support.lib.console_mail.EmailBackend"  # readable, no base64
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Plug2Support <no-reply@localhost>")
# The e-mail channel (docs/email.md): companies' support addresses are <local part>@ this
# domain, whose MX points at the SMTP gateway (`manage.py smtpd`) or at a provider's inbound.
INBOUND_EMAIL_DOMAIN = env.str("INBOUND_EMAIL_DOMAIN", default="inbound.localhost").lower()
# The biggest message accepted (SMTP answers 552 above it, a webhook 413), and how much of
# it is kept raw for audit (F5).
MAIL_MAX_BYTES = env.int("MAIL_MAX_BYTES", default=25 * 1024 * 1024)
MAIL_RAW_KEEP_BYTES = env.int("MAIL_RAW_KEEP_BYTES", default=2 * 1024 * 1024)
# How long a received message is kept raw (days), and how many new conversations one sender
# may open an hour before the next ones land in Suspended (F3).
# Process a stored message at once, in the thread that stored it, instead of in a worker's
# drain (mail/queue.py): the tests' mode, like django-tasks' immediate backend.
MAIL_PROCESS_AT_ONCE = env.bool("MAIL_PROCESS_AT_ONCE", default=False)
MAIL_RAW_RETENTION_DAYS = env.int("MAIL_RAW_RETENTION_DAYS", default=30)
MAIL_NEW_CONVERSATIONS_PER_SENDER_HOUR = env.int("MAIL_NEW_CONVERSATIONS_PER_SENDER_HOUR",
                                                 default=5)
# And how many new e-mail conversations a company takes an hour before the next ones land
# in Suspended (a flood from ever new addresses, F3).
MAIL_NEW_CONVERSATIONS_PER_COMPANY_HOUR = env.int("MAIL_NEW_CONVERSATIONS_PER_COMPANY_HOUR",
                                                  default=200)
# The receiving servers whose Authentication-Results count (their authserv-id, e.g. your MX's
# host name). Empty: the topmost header counts — right behind an MX that adds one, while mail
# straight to the gateway carries only what its sender wrote (docs/email.md).
MAIL_AUTHSERV_IDS = env.list("MAIL_AUTHSERV_IDS", default=[])
# Connected mailboxes on a private or local network (docs/email.md): off, so that the
# settings page cannot reach into ours.
MAIL_IMAP_ALLOW_PRIVATE = env.bool("MAIL_IMAP_ALLOW_PRIVATE", default=False)
# The providers' inbound webhooks, /mail/inbound/<provider>/ (mail/webhooks.py): each refuses
# every post until its secret is set. Mailgun signs with its HTTP webhook signing key; the
# others send HTTP basic auth, the "user:password" written into the URL given to them.
# Brevo's attachments are downloaded with its API key.
ANYMAIL = {
    "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
    "BREVO_API_KEY": env.str("BREVO_API_KEY", default=""),
}
# Amazon SES posts through SNS, whose signatures are checked against the SNS signing
# certificate(s) in this PEM file (never fetched from the URL a message names), from these
# topics (empty: any); SES's webhook stays off without the file.
MAIL_SES_SNS_CERTIFICATE = env.str("MAIL_SES_SNS_CERTIFICATE", default="")
MAIL_SES_SNS_TOPIC_ARNS = env.list("MAIL_SES_SNS_TOPIC_ARNS", default=[])
# How old a signed post may be, in seconds (Mailgun's timestamp; SNS's, which a retry keeps).
MAIL_WEBHOOK_TOLERANCE = env.int("MAIL_WEBHOOK_TOLERANCE", default=900)

# Background work: Django's Tasks API with the database backend. `worker` runs it; the
# embedded `run` command starts a worker thread in-process.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "ENQUEUE_ON_COMMIT": True,
    }
}

# Web Push (M11, push/): the VAPID `sub` claim push services may write to, and the hosts
# whose push endpoint may be plain http (none in production; the tests' own push service).
PUSH_CONTACT = env.str("PUSH_CONTACT", default="mailto:support@localhost")
PUSH_HTTP_HOSTS: list[str] = env.list("PUSH_HTTP_HOSTS", default=[])

# Presence (C5): see realtime/presence.py.
PRESENCE_GRACE_SECONDS = env.int("PRESENCE_GRACE_SECONDS", default=20)
PRESENCE_OFFLINE_SECONDS = env.int("PRESENCE_OFFLINE_SECONDS", default=300)
PRESENCE_STALE_SECONDS = env.int("PRESENCE_STALE_SECONDS", default=90)
PRESENCE_HEARTBEAT_SECONDS = env.int("PRESENCE_HEARTBEAT_SECONDS", default=30)
# How often the loader reports the page while it is visible (C7: visitors on the site now).
SITE_HEARTBEAT_SECONDS = env.int("SITE_HEARTBEAT_SECONDS", default=30)

# Limits stated in errors (see docs/protocol.md).
MESSAGE_MAX_CHARS = env.int("MESSAGE_MAX_CHARS", default=5000)
# M8: the operator's own GeoIP2/GeoLite2 Country or City .mmdb (widgets/geoip.py); empty: the
# sidebar's country is "not collected". Only the country is kept, never the address.
GEOIP_PATH = env.str("GEOIP_PATH", default="")
SOCKET_FRAME_MAX_BYTES = env.int("SOCKET_FRAME_MAX_BYTES", default=64 * 1024)
# Threads the sockets' database work runs on (realtime/dbthreads.py `db`). PostgreSQL: several,
# each with its own pooled connection, so one message's wait on the database (its commit)
# does not hold up every other socket's; row locks keep each conversation in order. SQLite
# writes one transaction at a time: one thread. Keep it below DB_POOL_MAX.
SOCKET_DB_THREADS = env.int(
    "SOCKET_DB_THREADS", default=4 if DATABASES["default"]["ENGINE"].endswith("postgresql") else 1)
INVITATION_MAX_AGE_DAYS = 7
# C4: an attachment is at most this many bytes (the error states the limit in MB).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes says INFO on every failed login; its warnings (a new failure, a lock) stay.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Billing (docs/billing.md). Card payments need both Stripe keys; without them the billing
# page offers bank transfer only. The seller and bank details are printed on every invoice.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)  # seconds
BILLING_SELLER = {
    "name": env.str("BILLING_SELLER_NAME", default="Plug2Support"),
    "address": env.str("BILLING_SELLER_ADDRESS", default="1 Example Street\n00000 Example City")
    .replace("\\n", "\n"),
    "vat": env.str("BILLING_SELLER_VAT", default=""),
}
BILLING_BANK_DETAILS = {
    "holder": env.str("BILLING_BANK_HOLDER", default="Plug2Support"),
    "iban": env.str("BILLING_BANK_IBAN", default="XX00 0000 0000 0000 0000 00"),
    "bic": env.str("BILLING_BANK_BIC", default="XXXXXXXX"),
}
# Who hears of an invoice still undelivered 2 business days after it was issued (default:
# every active staff user).
BILLING_STAFF_EMAILS = env.list("BILLING_STAFF_EMAILS", default=[])

# N5 two-factor (accounts/twofactor.py): how long the half-logged-in state between the
# password and the code lasts, and the name authenticator apps show.
TWO_FACTOR_PENDING_SECONDS = 300
OTP_TOTP_ISSUER = "Plug2Support"
