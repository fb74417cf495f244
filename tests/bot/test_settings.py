import stat
import subprocess
import sys
import time

import pytest

from bot.settings import PROJECT_ROOT, SmtpServer, load_settings


def test_embedded_defaults_keep_everything_under_var(tmp_path):
    settings = load_settings({"FSGS_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'handoff.db'}"
    assert (settings.rasa_port, settings.action_port, settings.web_port) == (5005, 5055, 8000)
    env = settings.rasa_environment()
    assert env["FSGS_TRACKER_DIALECT"] == "sqlite"
    assert env["FSGS_TRACKER_DB"] == str(tmp_path / "tracker.db")
    assert env["FSGS_LOCK_STORE_TYPE"] == "in_memory"


def test_generated_secrets_persist_across_loads_and_are_private(tmp_path):
    first = load_settings({"FSGS_VAR_DIR": str(tmp_path)})
    second = load_settings({"FSGS_VAR_DIR": str(tmp_path)})
    assert first.rasa_auth_token == second.rasa_auth_token
    assert len(first.rasa_auth_token) >= 32
    assert (tmp_path / "rasa_auth_token").stat().st_mode & 0o077 == 0


def test_production_stores_come_from_urls(tmp_path):
    settings = load_settings({
        "FSGS_VAR_DIR": str(tmp_path),
        "TRACKER_STORE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
    })
    env = settings.rasa_environment()
    assert (env["FSGS_TRACKER_DIALECT"], env["FSGS_TRACKER_DB"]) == ("postgresql", "test")
    assert env["FSGS_TRACKER_HOST"] == "postgresql://postgres@127.0.0.1:5432/test"
    assert (env["FSGS_LOCK_STORE_TYPE"], env["FSGS_REDIS_HOST"], env["FSGS_REDIS_DB"]) == (
        "bot.lock_store.RedisLockStore", "127.0.0.1", "3")


def test_a_bad_port_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="RASA_PORT"):
        load_settings({"FSGS_VAR_DIR": str(tmp_path), "RASA_PORT": "five"})


def test_secrets_are_created_owner_only_in_an_owner_only_var(tmp_path):
    var_dir = tmp_path / "var"
    settings = load_settings({"FSGS_VAR_DIR": str(var_dir)})
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    for name in ("rasa_auth_token", "action_server_token", "web_secret_key"):
        assert stat.S_IMODE((var_dir / name).stat().st_mode) == 0o600
    assert len({settings.rasa_auth_token, settings.action_server_token, settings.secret_key}) == 3
    assert not list(var_dir.glob(".*.tmp"))


def test_processes_starting_together_agree_on_one_secret(tmp_path):
    """Each process writes its own temporary file; the first link wins and the others read it."""
    script = ("import sys, time; from bot.settings import load_settings; "
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "  # all start at one instant
              "print(load_settings({'FSGS_VAR_DIR': sys.argv[1]}).action_server_token)")
    start = str(time.time() + 5)
    children = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), start], text=True,
                                 stdout=subprocess.PIPE, cwd=PROJECT_ROOT) for _ in range(12)]
    tokens = {child.communicate(timeout=120)[0].strip() for child in children}
    assert tokens == {(tmp_path / "action_server_token").read_text()}
    assert all(child.returncode == 0 for child in children)


def test_an_older_world_readable_secret_is_kept_but_made_private(tmp_path):
    (tmp_path / "rasa_auth_token").write_text("-starts-with-a-dash\n")
    (tmp_path / "rasa_auth_token").chmod(0o644)
    assert load_settings({"FSGS_VAR_DIR": str(tmp_path)}).rasa_auth_token == "-starts-with-a-dash"
    assert stat.S_IMODE((tmp_path / "rasa_auth_token").stat().st_mode) == 0o600


def test_an_empty_secret_file_is_a_clear_error(tmp_path):
    (tmp_path / "action_server_token").write_text("  \n")
    with pytest.raises(ValueError, match="action_server_token is empty"):
        load_settings({"FSGS_VAR_DIR": str(tmp_path)})


def test_the_action_server_is_on_loopback_unless_told_otherwise(tmp_path):
    assert load_settings({"FSGS_VAR_DIR": str(tmp_path)}).action_host == "127.0.0.1"
    assert load_settings({"FSGS_VAR_DIR": str(tmp_path), "ACTION_HOST": "0.0.0.0"}).action_host == "0.0.0.0"


def test_smtp_url_gives_security_port_and_login(tmp_path):
    def smtp(url):
        return load_settings({"FSGS_VAR_DIR": str(tmp_path), "SMTP_URL": url}).alerts.smtp

    assert smtp("smtp://127.0.0.1:1025") == SmtpServer("127.0.0.1", 1025, "none", None, None)
    assert smtp("smtp+starttls://me%40clinic.org:p%3Ass@mail.clinic.org") == \
        SmtpServer("mail.clinic.org", 587, "starttls", "me@clinic.org", "p:ss")
    assert smtp("smtps://relay") == SmtpServer("relay", 465, "tls", None, None)
    assert smtp("") is None


@pytest.mark.parametrize("env, error", [
    ({"SMTP_URL": "http://mail:25"}, "SMTP_URL must look like"),
    ({"SMTP_URL": "smtp://"}, "SMTP_URL must look like"),
    ({"SMTP_URL": "smtp://user:pass@mail:25"}, "no TLS"),
    ({"ALERT_WEBHOOK_URL": "ftp://hooks/x"}, "ALERT_WEBHOOK_URL"),
    ({"ALERT_TIMEOUT_SECONDS": "soon"}, "ALERT_TIMEOUT_SECONDS"),
])
def test_bad_alert_settings_are_clear_errors(tmp_path, env, error):
    with pytest.raises(ValueError, match=error):
        load_settings({"FSGS_VAR_DIR": str(tmp_path), **env})


def test_alerts_are_configured_only_with_a_destination(tmp_path):
    def alerts(**env):
        return load_settings({"FSGS_VAR_DIR": str(tmp_path), **env}).alerts

    assert not alerts().configured
    assert not alerts(SMTP_URL="smtp://mail").configured          # nobody to send to
    assert alerts(SMTP_URL="smtp://mail", ALERT_EMAIL_TO="a@x.org, b@x.org").email_to == \
        ("a@x.org", "b@x.org")
    assert alerts(ALERT_WEBHOOK_URL="https://hooks.slack.com/services/T/B/X").configured
    assert load_settings({"FSGS_VAR_DIR": str(tmp_path), "CONSOLE_BASE_URL": "https://c.org/"}
                         ).console_base_url == "https://c.org"
