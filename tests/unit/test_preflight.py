"""What the program reads from the host is read and checked before any resource is declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import preflight
from components.config import parse_config
from components.names import HUB_CONFIG_DIR, HUB_CONFIG_PATH, HUB_SETTINGS_ENV
from components.preflight import HubConfigError, check_hub_config_loads, read_hub_config_files

SETTINGS = {"hub": {"configDir": HUB_CONFIG_DIR}, "value": 42}


def hub_config_dir(tmp_path: Path, main: str, extra: dict[str, str] | None = None) -> tuple[Path, Path]:
    (tmp_path / "jupyterhub_config.py").write_text(main)
    extra_dir = tmp_path / "jupyterhub_config.d"
    extra_dir.mkdir()
    for name, text in (extra or {}).items():
        (extra_dir / name).write_text(text)
    return tmp_path / "jupyterhub_config.py", extra_dir


def test_the_main_file_and_the_operators_python_files_are_read_in_name_order(tmp_path: Path) -> None:
    main, extra = hub_config_dir(tmp_path, "c.A.b = 1\n", {"20-b.py": "x = 2\n", "10-a.py": "x = 1\n", "README.md": "text"})
    files = read_hub_config_files(main, extra)
    assert files == {
        HUB_CONFIG_PATH: "c.A.b = 1\n",
        f"{HUB_CONFIG_DIR}/10-a.py": "x = 1\n",
        f"{HUB_CONFIG_DIR}/20-b.py": "x = 2\n",
    }
    assert list(files) == [HUB_CONFIG_PATH, f"{HUB_CONFIG_DIR}/10-a.py", f"{HUB_CONFIG_DIR}/20-b.py"]


def test_a_missing_main_file_or_one_that_does_not_compile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HubConfigError, match=r"jupyterhub_config.py is missing. Fix: restore it \(git checkout -- "):
        read_hub_config_files(tmp_path / "jupyterhub_config.py", tmp_path)
    main, extra = hub_config_dir(tmp_path, "c.A.b = 1\n", {"30-mine.py": "c.A.b = (\n"})
    with pytest.raises(HubConfigError, match=r"^30-mine.py line 1: .*The running hub is left as it is"):
        read_hub_config_files(main, extra)


LOADS_OPERATOR_FILES = f"""
import json, os, pathlib
settings = json.loads(pathlib.Path(os.environ["{HUB_SETTINGS_ENV}"]).read_text())
assert settings["value"] == 42
for path in sorted(pathlib.Path(settings["hub"]["configDir"]).glob("*.py")):
    exec(path.read_text(), {{"c": c}})
"""


def test_the_load_check_runs_every_file_with_the_settings_and_only_the_hubs_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONLY_ON_THIS_HOST", "x")
    files = {HUB_CONFIG_PATH: LOADS_OPERATOR_FILES, f"{HUB_CONFIG_DIR}/10-mine.py": "c.Spawner.environment = {'K': 1}\n"}
    check_hub_config_loads(files, SETTINGS, ["OAUTH_CLIENT_SECRET"])
    reads_secret = {**files, f"{HUB_CONFIG_DIR}/20-secret.py": "import os\nassert os.environ['OAUTH_CLIENT_SECRET']\n"}
    check_hub_config_loads(reads_secret, SETTINGS, ["OAUTH_CLIENT_SECRET"])
    reads_host_variable = {**files, f"{HUB_CONFIG_DIR}/20-host.py": "import os\nos.environ['ONLY_ON_THIS_HOST']\n"}
    with pytest.raises(HubConfigError, match=r"^the hub config raised KeyError: 'ONLY_ON_THIS_HOST' when loaded"):
        check_hub_config_loads(reads_host_variable, SETTINGS, ["OAUTH_CLIENT_SECRET"])


def test_an_operator_file_that_raises_is_refused_naming_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {HUB_CONFIG_PATH: LOADS_OPERATOR_FILES, f"{HUB_CONFIG_DIR}/10-mine.py": "raise ValueError('bad branding')\n"}
    with pytest.raises(HubConfigError) as error:
        check_hub_config_loads(files, SETTINGS, [])
    assert str(error.value) == (
        "the hub config raised ValueError: bad branding when loaded with this stack's settings. "
        "The running hub is left as it is. Fix the file and run pulumi preview again"
    )


def test_an_import_only_the_hub_image_has_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(preflight.pulumi.log, "warn", warnings.append)
    check_hub_config_loads({HUB_CONFIG_PATH: "import oauthenticator_only_in_the_hub\n"}, SETTINGS, [])
    assert warnings == [
        "the hub config imports oauthenticator_only_in_the_hub, which only the hub image has; not checked before deploy"
    ]


def test_every_image_gets_a_content_tag_and_a_missing_dockerfile_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for context in ("build.proxy", "hub_config", "build.notebook", "docker_api_proxy"):
        (tmp_path / context).mkdir()
        (tmp_path / context / "Dockerfile").write_text(f"FROM {context}\n")
    tags = preflight.image_tags(parse_config({}, {}), "")
    assert set(tags) == {"proxy", "hub", "notebook", "docker-api"} and len(set(tags.values())) == 4
    assert set(preflight.image_tags(parse_config({"dockerApiProxy": False}, {}), "")) == {"proxy", "hub", "notebook"}
    (tmp_path / "hub_config" / "Dockerfile").unlink()
    with pytest.raises(preflight.BuildContextError, match=r"^hub_config/Dockerfile is missing: the hub image cannot be built"):
        preflight.image_tags(parse_config({}, {}), "")


def test_a_hub_config_that_never_finishes_loading_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "LOAD_CHECK_TIMEOUT_S", 1)
    with pytest.raises(HubConfigError, match=r"^the hub config did not finish loading within 1 s"):
        check_hub_config_loads({HUB_CONFIG_PATH: "while True:\n    pass\n"}, SETTINGS, [])


def test_the_load_check_runs_in_a_scratch_folder_with_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    writes_here = "import os, pathlib\nassert os.environ['PATH']\npathlib.Path('written-by-the-config').write_text('x')\n"
    check_hub_config_loads({HUB_CONFIG_PATH: writes_here}, SETTINGS, [])
    assert list(tmp_path.iterdir()) == []  # nothing lands in the project folder
