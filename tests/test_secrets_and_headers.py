"""Secrets and headers (N6): no key from the repository, `web` refuses to start without
SECRET_KEY, console pages with a Content-Security-Policy and the usual security headers,
HSTS under https, and `check --deploy` clean on the README's production settings."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

from django.test import Client

from plug2support.lib.secret_key import var_dir_secret_key

from .conftest import Tenant, logged_in_client

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "plug2support" / "templates"


def manage(*args: str, env: dict[str, str],
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def bare_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """This machine's environment without the product's settings, in a var directory of its
    own: what a fresh checkout sees."""
    product = {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "ALLOWED_HOSTS",
               "EMAIL_URL", "CSRF_TRUSTED_ORIGINS", "HSTS_SECONDS", "HSTS_PRELOAD",
               "HSTS_INCLUDE_SUBDOMAINS"}
    # DJANGO_* too: the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is the test harness's, and a
    # production check run under it reports async.E001.
    env = {k: v for k, v in os.environ.items()
           if k not in product and not k.startswith("DJANGO_")}
    return {**env, "P2S_VAR_DIR": str(var_dir), **extra}


def readme_production_environment(var_dir: Path) -> dict[str, str]:
    """The variables the README's Production section exports, its `…` placeholders filled."""
    readme = (ROOT / "README.md").read_text()
    production = readme.split("## Production", 1)[1]
    command = re.search(r"^export (.+?[^\\])$", production, re.S | re.M)
    assert command, "the README's Production section exports the production settings"
    pairs = dict(item.split("=", 1) for item in command.group(1).replace("\\\n", " ").split())
    filled = {"DATABASE_URL": "postgres://plug2support@db.example.com:5432/plug2support",
              "REDIS_URL": "redis://redis.example.com:6379/0",
              "SECRET_KEY": secrets.token_urlsafe(50),
              "EMAIL_URL": "smtp://mail.example.com:587/?tls=True"}
    for name, value in pairs.items():
        if "…" in value:
            assert name in filled, f"the test has no value for the README's {name}"
            pairs[name] = filled[name]
    assert pairs["PUBLIC_URL"].startswith("https://")
    return bare_environment(var_dir, **pairs)


# --- the secret key ----------------------------------------------------------------------------

def test_without_secret_key_the_embedded_default_makes_its_own_and_keeps_it_private(
        tmp_path: Path) -> None:
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = manage("shell", "--no-imports", "-c", code, env=bare_environment(tmp_path))
    assert first.returncode == 0, first.stderr
    kept = tmp_path / "secret_key"
    assert first.stdout.strip() == kept.read_text().strip()
    assert len(kept.read_text().strip()) >= 50
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # The next start keeps it (sessions survive a restart); another var directory, another key.
    again = manage("shell", "--no-imports", "-c", code, env=bare_environment(tmp_path))
    assert again.stdout == first.stdout
    other = tmp_path / "other"
    other.mkdir()
    assert var_dir_secret_key(other) != first.stdout.strip()


def test_no_secret_key_is_written_in_the_repository() -> None:
    settings_source = (ROOT / "plug2support" / "settings.py").read_text()
    match = re.search(r"^SECRET_KEY = (.+)$", settings_source, re.M)
    assert match and "default=\"\"" in match.group(1) and "var_dir_secret_key" in match.group(1)


def test_web_refuses_to_start_without_secret_key_and_names_the_variable(tmp_path: Path) -> None:
    result = manage("web", "--port", "1", env=bare_environment(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_worker_refuses_to_start_without_secret_key_and_names_the_variable(
        tmp_path: Path) -> None:
    result = manage("worker", env=bare_environment(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY is not set: worker" in result.stderr


def test_check_deploy_is_clean_on_the_readme_production_settings(tmp_path: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING",
                    env=readme_production_environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert not (tmp_path / "secret_key").exists()  # the environment's key, none made


def test_check_deploy_warns_when_secret_key_is_not_set(tmp_path: Path) -> None:
    env = readme_production_environment(tmp_path)
    del env["SECRET_KEY"]
    result = manage("check", "--deploy", env=env)
    assert "plug2support.W001" in result.stderr and "SECRET_KEY is not set" in result.stderr


def test_production_over_https_sends_hsts_and_redirects_plain_http(tmp_path: Path) -> None:
    code = (
        "from django.test import Client\n"
        "client = Client(HTTP_HOST='chat.example.com')\n"
        "page = client.get('/accounts/login/', secure=True)\n"
        "print(page.status_code, page.headers['Strict-Transport-Security'])\n"
        "plain = client.get('/accounts/login/')\n"
        "print(plain.status_code, plain.headers['Location'])\n"
        "print(client.get('/health').status_code)\n")
    result = manage("shell", "--no-imports", "-c", code,
                    env=readme_production_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "200 max-age=31536000; includeSubDomains; preload",
        "301 https://chat.example.com/accounts/login/",
        "200",  # load balancers' health checks over plain http
    ]


def test_plain_http_deployments_send_no_hsts(acme: Tenant) -> None:
    assert "Strict-Transport-Security" not in Client().get("/accounts/login/", secure=True)


# --- the headers of console pages --------------------------------------------------------------

def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in
            (part.split() for part in policy.split(";") if part.strip())}


def test_console_pages_send_a_strict_content_security_policy_and_security_headers(
        acme: Tenant) -> None:
    owner = logged_in_client(acme.owner)
    for client, path in [(Client(), "/accounts/login/"), (Client(), "/signup/"),
                         (owner, "/inbox/"), (owner, "/billing/"),
                         (owner, f"/settings/widgets/{acme.widget.pk}/")]:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = directives(response["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert response["Referrer-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"]
        assert "microphone=()" in response["Permissions-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"


def test_the_widget_preview_may_be_framed_by_the_settings_page_only(acme: Tenant) -> None:
    response = logged_in_client(acme.owner).get(f"/settings/widgets/{acme.widget.pk}/preview")
    assert directives(response["Content-Security-Policy"])["frame-ancestors"] == ["'self'"]


def test_the_widget_frame_keeps_its_own_policy_with_the_allowed_sites(acme: Tenant) -> None:
    acme.widget.allowed_origins = "https://shop.example.com"
    acme.widget.save()
    response = Client().get(f"/widget/frame/{acme.widget.key}/")
    policy = directives(response["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["https://shop.example.com"]
    assert "X-Frame-Options" not in response


def test_templates_have_no_inline_script_style_or_event_handler() -> None:
    # The policy allows no inline code; e-mails are not pages, the demo site is not served by
    # the product. A JSON data block (json_script) is not run, so it is allowed.
    offenders = []
    for path in [*TEMPLATES.rglob("*.html"), *ROOT.glob("plug2support/*/templates/**/*.html")]:
        relative = path.relative_to(ROOT).as_posix()
        if "/templates/email/" in relative or relative.endswith("ops/demo_site.html"):
            continue
        text = path.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", r"<style\b",
                        r"\sstyle=", r"\son[a-z]+\s*=", r"javascript:"):
            if re.search(pattern, text):
                offenders.append(f"{relative}: {pattern}")
    assert offenders == []
