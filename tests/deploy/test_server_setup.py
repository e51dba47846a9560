"""How `fullchain serve` prepares the wheel's tritonserver: backend folder, environment, command line."""

import sys
import sysconfig

from deploy.config import ServeConfig
from deploy.server import SITE_PACKAGES_ENV, available_backends, find_triton, prepare_backends, server_command, \
    server_environment


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
    cmd = server_command(install, tmp_path, cfg, ["a_generate", "b_generate"])
    assert cmd[0] == str(install.binary)
    for flag in ("--model-repository=/repo", "--model-control-mode=explicit", "--http-port=1", "--grpc-port=2",
                 "--metrics-port=3", "--cache-config=local,size=1024", f"--backend-directory={tmp_path}",
                 "--load-model=a_generate", "--load-model=b_generate"):
        assert flag in cmd
    no_cache = server_command(install, tmp_path, ServeConfig(repository="/repo", cache_size_bytes=0), [])
    assert not [a for a in no_cache if a.startswith("--cache-config")]
