"""scripts/mesh-demo, the mesh's walkthrough: three nodes linked in a line
(a <- b <- c), a subscriber at c, three events published at a. Run against
the binary under test, so that the demo keeps working as the mesh changes."""
import os
import subprocess

from conftest import REPO, SKEIN


def test_mesh_demo_carries_three_events_from_a_to_c(tmp_path):
    logs = tmp_path / "logs"
    env = dict(os.environ, SKEIN=SKEIN, TMPDIR=str(tmp_path), MESH_DEMO_LOGS=str(logs))
    result = subprocess.run([str(REPO / "scripts/mesh-demo")], env=env, capture_output=True,
                            text=True, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for i in (1, 2, 3):
        assert f"c | demo/greeting/{i} hello {i} from a" in result.stdout, output
    # b's status: both of its links up, the three nodes in its registry.
    status = result.stdout.split("== mesh status of b", 1)[1]
    assert status.count(" up ") == 2, output
    for name in ("a", "b", "c"):
        assert any(line.split()[:1] == [name] for line in status.splitlines()), output
    # The script cleans up after itself: nothing is left in its temporary directory.
    assert [p.name for p in tmp_path.iterdir()] == ["logs"], output
    for log in logs.iterdir():
        text = log.read_text(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, f"sanitizer report in {log.name}:\n{text}"
