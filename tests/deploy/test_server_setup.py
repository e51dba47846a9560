"""How `fullchain serve` prepares the wheel's tritonserver: backend folder, environment, command line."""

import sys
import sysconfig

import os
import stat

import pytest

from fullchain.deploy.config import ADMIN_HEADER, ADMIN_KEY_ENV, ServeConfig
from fullchain.deploy.server import SITE_PACKAGES_ENV, ServerError, admin_key, available_backends, find_triton, \
    prepare_backends, redacted, server_command, server_environment

KEY = "k" * 20


def test_backend_folder_has_this_pythons_stub_beside_the_backend(tmp_path):
    install = find_triton()
    first = prepare_backends(install, tmp_path)
    stub = first / "python" / "triton_python_backend_stub"
    assert stub.is_file() and (first / "python" / "libtriton_python.so").is_file()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert stub.read_bytes() == (install.stubs / version / "triton_python_backend_stub").read_bytes()
    assert prepare_backends(install, tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folder left behind


def test_environment_points_the_stub_at_this_venv():
    install = find_triton()
    env = server_environment(install)
    assert str(install.libs) in env["LD_LIBRARY_PATH"].split(":")
    assert sysconfig.get_paths()["purelib"] in env[SITE_PACKAGES_ENV].split(":")
    assert available_backends(install) == {"python"}


def test_command_uses_explicit_model_control_and_the_cache(tmp_path):
    install = find_triton()
    cfg = ServeConfig(repository="/repo", http_port=1, grpc_port=2, metrics_port=3, cache_size_bytes=1024)
    cmd = server_command(install, tmp_path, cfg, ["a_generate", "b_generate"], KEY)
    assert cmd[0] == str(install.binary)
    apis = "model-repository,shared-memory,logging,trace"
    for flag in ("--model-repository=/repo", "--model-control-mode=explicit", "--http-port=1", "--grpc-port=2",
                 "--metrics-port=3", "--cache-config=local,size=1024", f"--backend-directory={tmp_path}",
                 "--load-model=a_generate", "--load-model=b_generate", "--strict-readiness=false",
                 "--exit-timeout-secs=25",  # the default stop_timeout_s of 30 less the margin
                 f"--http-restricted-api={apis}:{ADMIN_HEADER}={KEY}",
                 f"--grpc-restricted-protocol={apis}:{ADMIN_HEADER}={KEY}"):
        assert flag in cmd
    assert KEY not in redacted(cmd, KEY)
    no_cache = server_command(install, tmp_path, ServeConfig(repository="/repo", cache_size_bytes=0), [], KEY)
    assert not [a for a in no_cache if a.startswith("--cache-config")]
    relative = server_command(install, tmp_path, ServeConfig(repository="repo"), [], KEY)
    assert f"--model-repository={os.path.abspath('repo')}" in relative


def test_a_new_admin_key_is_written_for_the_owner_only(tmp_path):
    first = admin_key(ServeConfig(cache_dir=str(tmp_path)), {})
    path = tmp_path / "admin-key"
    assert first.source == str(path) and path.read_text().strip() == first.key and len(first.key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.key not in repr(first)
    assert admin_key(ServeConfig(cache_dir=str(tmp_path)), {}).key != first.key  # new at every start


def test_the_admin_key_comes_from_the_environment_or_a_given_file(tmp_path):
    assert admin_key(ServeConfig(cache_dir=str(tmp_path)), {ADMIN_KEY_ENV: KEY}).key == KEY
    given = tmp_path / "key"
    made = admin_key(ServeConfig(admin_key_file=str(given)), {})
    assert admin_key(ServeConfig(admin_key_file=str(given)), {}).key == made.key  # kept once written
    given.chmod(0o644)
    with pytest.raises(ServerError, match="readable or writable by others"):
        admin_key(ServeConfig(admin_key_file=str(given)), {})


@pytest.mark.parametrize("key", ["short", "k" * 20 + ":x", "k" * 20 + "=x", "k" * 20 + "\n"])
def test_an_admin_key_the_flag_cannot_carry_is_refused(tmp_path, key):
    with pytest.raises(ValueError, match=f"admin key in \\${ADMIN_KEY_ENV}"):
        admin_key(ServeConfig(cache_dir=str(tmp_path)), {ADMIN_KEY_ENV: key})
