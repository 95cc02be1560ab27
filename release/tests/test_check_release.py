"""release/check_release.py fails on broken artefacts, naming what is wrong.
Run: python3 -m unittest discover -s release/tests -t ."""

import io
import pathlib
import tarfile
import tempfile
import unittest

from release import check_release

EPOCH = 1_796_151_300
VERSION_TEXT = """\
syseng_sim, version 0.1.0 (branch: main, revision: 0123abcd4567)
  build user:       root@builder
  build date:       20261201-18:55:00
  rust version:     1.95.0
  platform:         linux/arm64
"""


def write_tarball(path, folder, binary, uid=0, mtime=EPOCH, extra=()):
    with tarfile.open(path, "w:gz") as archive:

        def add(name, data, mode):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, 0, mtime
            archive.addfile(info, io.BytesIO(data))

        directory = tarfile.TarInfo(folder)
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, mtime
        archive.addfile(directory)
        for name in ("LICENSE", "README.md"):
            add(f"{folder}/{name}", (check_release.ROOT / name).read_bytes(), 0o644)
        add(f"{folder}/{binary}", b"\x7fELF", 0o755)
        for name in extra:
            add(f"{folder}/{name}", b"", 0o644)


class Version(unittest.TestCase):
    def test_prometheus_block_passes(self):
        self.assertEqual(
            check_release.check_version(VERSION_TEXT, "syseng_sim", "0.1.0", "arm64", EPOCH), []
        )

    def test_each_wrong_line_fails(self):
        for right, wrong in [
            ("version 0.1.0", "version 0.2.0"),
            ("linux/arm64", "linux/amd64"),
            ("18:55:00", "18:55:01"),
            ("rust version:     1.95.0", "rust version:     unknown"),
            ("root@builder", "root"),
            ("revision: 0123abcd4567", "revision: 0123abc"),
        ]:
            with self.subTest(wrong):
                text = VERSION_TEXT.replace(right, wrong)
                self.assertNotEqual(text, VERSION_TEXT)
                self.assertTrue(
                    check_release.check_version(text, "syseng_sim", "0.1.0", "arm64", EPOCH)
                )


class Tarball(unittest.TestCase):
    def check(self, **changes):
        folder = "syseng_sim-0.1.0.linux-arm64"
        with tempfile.TemporaryDirectory() as directory:
            path = pathlib.Path(directory, f"{folder}.tar.gz")
            write_tarball(path, folder, "syseng_sim", **changes)
            return check_release.check_tarball(str(path), "syseng_sim", "0.1.0", "arm64", EPOCH)

    def test_promus_layout_passes(self):
        self.assertEqual(self.check(), [])

    def test_owner_date_and_extra_files_fail(self):
        self.assertIn("owned by 1000:0", " ".join(self.check(uid=1000)))
        self.assertIn("want SOURCE_DATE_EPOCH", " ".join(self.check(mtime=EPOCH + 1)))
        self.assertIn("holds", " ".join(self.check(extra=("NOTICE",))))


class Sums(unittest.TestCase):
    def test_a_file_left_out_fails(self):
        with tempfile.TemporaryDirectory() as directory:
            folder = pathlib.Path(directory)
            (folder / "a.tar.gz").write_bytes(b"a")
            (folder / "a.cdx.json").write_bytes(b"{}")
            (folder / "sha256sums.txt").write_text(f"{'0' * 64}  a.tar.gz\n")
            self.assertIn("the folder holds", " ".join(check_release.check_sums(directory)))
            (folder / "sha256sums.txt").write_text(
                f"{'0' * 64}  a.cdx.json\n{'0' * 64}  a.tar.gz\n"
            )
            self.assertEqual(check_release.check_sums(directory), [])


if __name__ == "__main__":
    unittest.main()
