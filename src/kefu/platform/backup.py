"""Backup and restore of a whole installation: ``kefu backup`` and ``kefu restore`` (docs/backup.md).

A backup is one ``.tar.gz``, written with mode 0600 because it holds password hashes and
the secret key::

    manifest.json               format version, kefu version, database kind and schema
                                revision, and the size and sha256 of every other member
    database/kefu.sqlite3       SQLite: an online copy made with SQLite's backup API
    database/kefu.pgdump        PostgreSQL: ``pg_dump --format=custom``
    data/<path>                 the files of the data directory (secret_key, …)

The live SQLite database (and its -wal/-shm/-journal files), ``<data dir>/backups`` and
temporary files (names starting with ``.`` or ending in ``.tmp``) are not data files.

Restoring checks everything before it touches anything: the archive must be readable,
of a known format, with no member outside the archive's own tree and every checksum
right; the database kind must be the target's; the schema revision must be one this kefu
knows (a backup from a newer kefu is refused); and the target database must be empty
unless ``force`` is given. SQLite is then copied with the backup API in one write
transaction (after being migrated to head in a staging copy), PostgreSQL restored inside
one transaction; either way a failure leaves the old database as it was.

This module is synchronous (it runs ``asyncio.run`` for the few async database calls):
call it from the CLI, or through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from glob import glob
from pathlib import Path, PurePosixPath
from typing import IO, TypeVar
from urllib.request import pathname2url

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import kefu
from kefu.platform.migrate import alembic_config, current_revision, head_revision, upgrade
from kefu.settings import Settings

log = logging.getLogger(__name__)
_T = TypeVar("_T")

FORMAT = "kefu-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BACKUPS_DIR = "backups"
DATA_PREFIX = "data"
DATABASE_MEMBERS = {"sqlite": "database/kefu.sqlite3", "postgresql": "database/kefu.pgdump"}
KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"  # Debian/Ubuntu keep every installed version here
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
LOCK_TIMEOUT_SECONDS = 30.0  # a running kefu holding locks fails a restore after this, instead of hanging it
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6

_MANIFEST_LIMIT = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BackupError(Exception):
    """A backup or restore cannot be done; the message says why and what to do (no traceback)."""


class TargetNotEmpty(BackupError):
    """The database to restore into already holds data and ``force`` was not given."""

    def __init__(self, database: str, tables: list[str]) -> None:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        super().__init__(
            f"{database} already holds data (rows in {shown}); restoring would replace all of it, "
            "so it was refused."
        )
        self.tables = tables


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    sha256: str
    mode: int


@dataclass(frozen=True)
class Manifest:
    kefu_version: str
    created_at: str
    kind: str
    revision: str | None
    files: tuple[ManifestFile, ...]
    format_version: int = FORMAT_VERSION

    @property
    def database_member(self) -> str:
        return DATABASE_MEMBERS[self.kind]

    @property
    def data_files(self) -> list[ManifestFile]:
        return [f for f in self.files if f.path.startswith(DATA_PREFIX + "/")]

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "format_version": self.format_version,
            "kefu_version": self.kefu_version,
            "created_at": self.created_at,
            "database": {"kind": self.kind, "revision": self.revision, "path": self.database_member},
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256, "mode": f.mode} for f in self.files
            ],
        }
        return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BackupError(f"{MANIFEST} is not valid JSON ({exc})") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise BackupError(f"{MANIFEST} does not describe a kefu backup")
        version = body.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise BackupError(f"{MANIFEST} has no valid format_version")
        if version > FORMAT_VERSION:
            raise BackupError(
                f"this backup uses format {version}, made by a newer kefu "
                f"({body.get('kefu_version', '?')}); this kefu ({kefu.__version__}) reads format "
                f"{FORMAT_VERSION}: upgrade kefu first"
            )
        if version != FORMAT_VERSION:
            raise BackupError(f"unknown backup format {version}")
        try:
            database = body["database"]
            kind = database["kind"]
            revision = database["revision"]
            files = tuple(
                ManifestFile(path=f["path"], size=f["size"], sha256=f["sha256"], mode=f["mode"])
                for f in body["files"]
            )
            manifest = cls(
                kefu_version=str(body["kefu_version"]),
                created_at=str(body["created_at"]),
                kind=kind,
                revision=revision,
                files=files,
                format_version=version,
            )
        except (KeyError, TypeError) as exc:
            raise BackupError(f"{MANIFEST} is incomplete ({exc!r} missing or malformed)") from None
        manifest._validate(database.get("path"))
        return manifest

    def _validate(self, database_path: object) -> None:
        if not isinstance(self.kind, str) or self.kind not in DATABASE_MEMBERS:
            raise BackupError(f"{MANIFEST} names an unknown database kind {self.kind!r}")
        if self.revision is not None and not isinstance(self.revision, str):
            raise BackupError(f"{MANIFEST} has a malformed schema revision")
        if database_path != self.database_member:
            raise BackupError(f"{MANIFEST} names an unexpected database file {database_path!r}")
        seen: set[str] = set()
        for entry in self.files:
            if not isinstance(entry.path, str):
                raise BackupError(f"{MANIFEST} lists a malformed file name")
            _check_member_name(entry.path)
            if entry.path == MANIFEST or entry.path in seen:
                raise BackupError(f"{MANIFEST} lists {entry.path!r} twice")
            seen.add(entry.path)
            top = entry.path.split("/", 1)[0]
            if entry.path != self.database_member and top != DATA_PREFIX:
                raise BackupError(f"{MANIFEST} lists {entry.path!r}, which is not part of a kefu backup")
            numbers = (entry.size, entry.mode)
            if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in numbers):
                raise BackupError(f"{MANIFEST} has a malformed size or mode for {entry.path!r}")
            if not isinstance(entry.sha256, str) or not _SHA256.match(entry.sha256):
                raise BackupError(f"{MANIFEST} has a malformed checksum for {entry.path!r}")
        if self.database_member not in seen:
            raise BackupError(f"{MANIFEST} does not list the database file {self.database_member}")


@dataclass(frozen=True)
class RestoreReport:
    archive: Path
    database: str
    manifest: Manifest
    revision: str | None  # the schema revision after migrating the restored database
    files: list[str] = field(default_factory=list)  # data files restored, relative to the data dir

    @property
    def migrated(self) -> bool:
        return self.revision != self.manifest.revision


# --- the database being backed up or restored -------------------------------------------------


def database_kind(url: str | URL) -> str:
    name = make_url(url).get_backend_name()
    if name not in DATABASE_MEMBERS:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name!r} databases")
    return name


def describe_database(url: str | URL) -> str:
    """Where the database is, for messages (never with the password)."""
    parsed = make_url(url)
    if database_kind(parsed) == "sqlite":
        return f"the SQLite database {sqlite_path(parsed)}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return f"the PostgreSQL database {parsed.database or '(default)'} on {where}"


def sqlite_path(url: str | URL) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("an in-memory or URI-style SQLite database cannot be backed up or restored")
    return Path(database).expanduser().resolve()


def _sqlite_connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    uri = f"file:{pathname2url(str(path))}?mode={mode}"
    conn = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT_SECONDS)
    conn.isolation_level = None
    return conn


def _sqlite_copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    """The whole database in one step of the backup API (one read, one write transaction).

    The connections' busy timeout applies to each attempt; Python's ``backup`` would retry a
    busy database forever, so the first busy answer ends the copy (rolled back) instead.
    """

    def give_up_when_busy(status: int, remaining: int, total: int) -> None:
        if status in (_SQLITE_BUSY, _SQLITE_LOCKED):
            raise sqlite3.OperationalError("database is locked")

    source.backup(target, progress=give_up_when_busy)


def tables_with_rows(settings: Settings) -> list[str]:
    """The tables of the target database that hold at least one row (alembic_version aside)."""
    url = settings.db_url
    if database_kind(url) == "sqlite":
        path = sqlite_path(url)
        if not path.exists():
            return []
        try:
            with closing(_sqlite_connect(path)) as conn:
                names = [
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name"
                    )
                ]
                return [name for name in names if conn.execute(_sqlite_probe(name)).fetchone()]
        except sqlite3.Error as exc:
            raise BackupError(f"cannot read {describe_database(url)}: {exc}") from None
    return _run_db(url, lambda: asyncio.run(_pg_tables_with_rows(url)))


def _sqlite_probe(table: str) -> str:
    quoted = '"' + table.replace('"', '""') + '"'
    return f"SELECT 1 FROM {quoted} LIMIT 1"  # noqa: S608  # a quoted table name from sqlite_master


async def _pg_tables_with_rows(url: str) -> list[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            rows = await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' "
                    "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
                )
            )
            found = []
            for schema, name in rows.all():
                if name == "alembic_version":
                    continue
                sql = f"SELECT EXISTS (SELECT 1 FROM {quote(schema)}.{quote(name)})"  # noqa: S608  # quoted names from the catalog
                if await conn.scalar(text(sql)):
                    found.append(name if schema == "public" else f"{schema}.{name}")
            return found
    finally:
        await engine.dispose()


def _run_db(url: str, call: Callable[[], _T]) -> _T:
    """Run a database call, turning connection and SQL errors into a :class:`BackupError`."""
    try:
        return call()
    except (SQLAlchemyError, OSError) as exc:
        raise BackupError(f"cannot use {describe_database(url)}: {exc}") from None


def check_target_empty(settings: Settings) -> None:
    """Raise :class:`TargetNotEmpty` when the database to restore into holds any rows."""
    tables = tables_with_rows(settings)
    if tables:
        raise TargetNotEmpty(describe_database(settings.db_url), tables)


def known_revisions() -> set[str]:
    """Every schema revision this kefu's migrations know (a backup from a newer kefu has another)."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return {rev.revision for rev in script.walk_revisions()}


# --- PostgreSQL client programs -----------------------------------------------------------------


def libpq_environment(url: str | URL) -> dict[str, str]:
    """The libpq variables (PGHOST, PGPASSWORD…) that point pg_dump/pg_restore/psql at ``url``.

    The password travels in the environment, never on a command line that ``ps`` shows.
    """
    parsed = make_url(url)
    env: dict[str, str] = {}
    if parsed.host:
        env["PGHOST"] = parsed.host
    if parsed.port:
        env["PGPORT"] = str(parsed.port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    if parsed.database:
        env["PGDATABASE"] = parsed.database
    query = {k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
    ssl = query.get("sslmode") or query.get("ssl")
    if ssl:
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl.lower(), ssl)
    for key, variable in {
        "host": "PGHOST",  # asyncpg: ?host=/run/postgresql for a Unix socket
        "port": "PGPORT",
        "user": "PGUSER",
        "passfile": "PGPASSFILE",
        "sslrootcert": "PGSSLROOTCERT",
        "sslcert": "PGSSLCERT",
        "sslkey": "PGSSLKEY",
        "application_name": "PGAPPNAME",
    }.items():
        if query.get(key):
            env[variable] = query[key]
    return env


def _version_of(program: Path) -> tuple[int, ...]:
    try:
        out = subprocess.run(  # noqa: S603  # an absolute path to a PostgreSQL client program
            [str(program), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    return tuple(int(part) for part in match.groups() if part is not None) if match else ()


def find_pg_tools(*names: str) -> dict[str, Path]:
    """Absolute paths of PostgreSQL client programs, all from the newest installation that has them all.

    Looks in every directory on PATH holding them and in /usr/lib/postgresql/*/bin.
    """
    folders: list[Path] = [Path(d) for d in glob(PG_BIN_GLOB)]
    for name in names:
        found = shutil.which(name)
        if found:
            folders.append(Path(found).parent)
    complete = []
    for folder in dict.fromkeys(folders):
        programs = [folder / name for name in names]
        if all(p.is_file() and os.access(p, os.X_OK) for p in programs):
            complete.append((_version_of(programs[0]), folder))
    if not complete:
        raise BackupError(
            f"{' and '.join(names)} not found on PATH or in {PG_BIN_GLOB}: install the PostgreSQL client "
            "programs, in the server's version or newer (Debian/Ubuntu: apt install postgresql-client)"
        )
    folder = max(complete, key=lambda item: item[0])[1]
    return {name: folder / name for name in names}


def _run_tool(args: list[str], url: str, what: str) -> None:
    env = {**os.environ, **libpq_environment(url)}
    try:
        result = subprocess.run(  # noqa: S603  # absolute program path, arguments we built
            args, env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BackupError(f"cannot run {args[0]}: {exc}") from None
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {_tool_error(result.stderr)}")


def _tool_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"\b(ERROR|FATAL|error|DETAIL|HINT)\b", line)]
    return " / ".join((errors or lines)[:6]) or "no error message"


# --- backup -----------------------------------------------------------------------------------


def default_backup_path(settings: Settings, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = settings.data_dir / BACKUPS_DIR
    path = folder / f"kefu-backup-{stamp}.tar.gz"
    n = 2
    while path.exists():
        path = folder / f"kefu-backup-{stamp}-{n}.tar.gz"
        n += 1
    return path


def create_backup(settings: Settings, output: Path | None = None) -> Path:
    """Write a backup archive (mode 0600) and return its path; kefu may keep running meanwhile.

    ``output`` may be a file name or an existing directory (the default name is used inside);
    by default the archive goes to ``<data dir>/backups/kefu-backup-<UTC time>.tar.gz``.
    """
    url = settings.db_url
    kind = database_kind(url)
    if output is None:
        output = default_backup_path(settings)
        output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    else:
        output = output.expanduser().resolve()
        if output.is_dir():
            output = output / default_backup_path(settings).name
        if not output.parent.is_dir():
            raise BackupError(f"cannot write {output}: the folder {output.parent} does not exist")
    tools = find_pg_tools("pg_dump") if kind == "postgresql" else {}
    files = list(_data_files(settings, exclude={output}))
    with tempfile.TemporaryDirectory(prefix=".kefu-backup-", dir=output.parent) as tmp:
        staging = Path(tmp)
        database_file = staging / DATABASE_MEMBERS[kind]
        database_file.parent.mkdir()
        if kind == "sqlite":
            revision = _sqlite_snapshot(sqlite_path(url), database_file)
        else:
            revision = _run_db(url, lambda: current_revision(url))
            _run_tool(
                [
                    str(tools["pg_dump"]),
                    "--format=custom",
                    "--no-owner",
                    "--no-password",
                    f"--file={database_file}",
                ],
                url,
                "pg_dump",
            )
            database_file.chmod(0o600)
        entries = [_describe(database_file, DATABASE_MEMBERS[kind], mode=0o600)]
        for source, relative in files:
            member = f"{DATA_PREFIX}/{relative}"
            staged = staging / member
            staged.parent.mkdir(parents=True, exist_ok=True)
            try:
                entries.append(_copy_hashed(source, staged, member))
            except FileNotFoundError:
                continue  # removed while we were backing up: it is not part of the data any more
        manifest = Manifest(
            kefu_version=kefu.__version__,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            kind=kind,
            revision=revision,
            files=tuple(entries),
        )
        _write_archive(output, manifest, staging)
    log.info("backup written to %s (%d data files)", output, len(entries) - 1)
    return output


def _data_files(settings: Settings, *, exclude: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """The data directory's files: (absolute path, path relative to the data dir, POSIX style)."""
    root = settings.data_dir
    skip = {p.resolve() for p in exclude}
    if database_kind(settings.db_url) == "sqlite":
        live = sqlite_path(settings.db_url)
        skip |= {live, *(live.with_name(live.name + suffix) for suffix in SQLITE_SIDECARS)}
    if not root.is_dir():
        return
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _is_temporary(d) and not (here == root and d == BACKUPS_DIR))
        for name in sorted(names):
            path = here / name
            if _is_temporary(name) or path.resolve() in skip:
                continue
            if path.is_symlink() or not path.is_file():
                log.warning("not backed up (not a regular file): %s", path)
                continue
            yield path, path.relative_to(root).as_posix()


def _is_temporary(name: str) -> bool:
    return name.startswith(".") or name.endswith((".tmp", "~"))


def _sqlite_snapshot(source: Path, target: Path) -> str | None:
    """Copy a live SQLite database with the backup API (a consistent snapshot; WAL writers go on)."""
    if not source.is_file():
        raise BackupError(f"there is no SQLite database at {source}: nothing to back up")
    try:
        with closing(_sqlite_connect(source)) as src, closing(_sqlite_connect(target, create=True)) as dst:
            _sqlite_copy(src, dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            return _sqlite_revision(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the SQLite database {source}: {exc}") from None


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if not has_table:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def _describe(path: Path, member: str, *, mode: int) -> ManifestFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return ManifestFile(path=member, size=path.stat().st_size, sha256=digest.hexdigest(), mode=mode)


def _copy_hashed(source: Path, target: Path, member: str) -> ManifestFile:
    """Copy a file that may change meanwhile; the checksum is of exactly the bytes copied."""
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src:
        mode = os.fstat(src.fileno()).st_mode & 0o777
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
    return ManifestFile(path=member, size=size, sha256=digest.hexdigest(), mode=mode)


def _write_archive(output: Path, manifest: Manifest, staging: Path) -> None:
    """Write the archive aside (mode 0600 from its first byte), then move it into place."""
    partial = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                body = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(body), 0o600, int(datetime.now(UTC).timestamp())
                tar.addfile(info, _BytesReader(body))
                for entry in manifest.files:
                    path = staging / entry.path
                    info = tar.gettarinfo(str(path), arcname=entry.path)
                    info.mode, info.uid, info.gid, info.uname, info.gname = entry.mode, 0, 0, "", ""
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk, self._pos = self._data[self._pos : end], min(end, len(self._data))
        return chunk


# --- reading an archive -----------------------------------------------------------------------


def _check_member_name(name: str) -> PurePosixPath:
    """A relative, normalized POSIX path that stays inside the folder it is extracted to."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or str(path) != name
        or any(part in {"", ".", ".."} for part in path.parts)
    ):
        raise BackupError(f"the archive holds an unsafe file name {name!r}; it was not restored")
    return path


@contextmanager
def _open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist (or is not a file)")
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{archive} is not a readable kefu backup ({exc or type(exc).__name__})") from None


def _read_manifest_member(tar: tarfile.TarFile, archive: Path) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise BackupError(f"{archive} is not a kefu backup: it does not start with {MANIFEST}")
    if first.size > _MANIFEST_LIMIT:
        raise BackupError(f"{archive}: {MANIFEST} is implausibly large")
    handle = tar.extractfile(first)
    assert handle is not None  # a regular file
    return Manifest.from_json(handle.read())


def read_manifest(archive: Path) -> Manifest:
    """What the archive says it holds (only the manifest is read, nothing is verified yet)."""
    with _open_archive(archive) as tar:
        return _read_manifest_member(tar, archive)


def _extract_verified(archive: Path, staging: Path) -> Manifest:
    """Extract every member into ``staging``, checking names, sizes and checksums."""
    with _open_archive(archive) as tar:
        manifest = _read_manifest_member(tar, archive)
        expected = {entry.path: entry for entry in manifest.files}
        done: set[str] = set()
        while (member := tar.next()) is not None:  # streaming: the manifest was the first
            _check_member_name(member.name)
            if not member.isfile():
                raise BackupError(f"{archive}: {member.name!r} is not a regular file; it was not restored")
            entry = expected.get(member.name)
            if entry is None:
                raise BackupError(f"{archive}: {member.name!r} is not listed in {MANIFEST}")
            if member.name in done:
                raise BackupError(f"{archive}: {member.name!r} appears twice")
            if member.size != entry.size:
                raise BackupError(
                    f"{archive}: {member.name} does not have the size {MANIFEST} gives: the archive is "
                    "damaged or was altered; nothing was restored"
                )
            handle = tar.extractfile(member)
            assert handle is not None
            target = staging / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            size, digest = _save(handle, target)
            if size != entry.size or digest != entry.sha256:
                raise BackupError(
                    f"{archive}: {member.name} does not match its checksum in {MANIFEST}: "
                    "the archive is damaged or was altered; nothing was restored"
                )
            done.add(member.name)
    missing = sorted(set(expected) - done)
    if missing:
        raise BackupError(f"{archive} is incomplete: {', '.join(missing)} missing; nothing was restored")
    return manifest


def _save(source: IO[bytes], target: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


# --- restore ----------------------------------------------------------------------------------


def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> RestoreReport:
    """Replace the database and the data files with the archive's, then migrate to head.

    Stop kefu first. Everything is checked before anything is changed; the database is
    replaced in one transaction, so a failure leaves it as it was.
    """
    url = settings.db_url
    target_kind = database_kind(url)
    archive = archive.expanduser().resolve()
    manifest = read_manifest(archive)
    if manifest.kind != target_kind:
        raise BackupError(
            f"this backup holds a {KINDS[manifest.kind]} database, but KEFU_DATABASE_URL points to "
            f"{KINDS[target_kind]} ({describe_database(url)}); restore it into a {KINDS[manifest.kind]} "
            "database"
        )
    if manifest.revision is not None and manifest.revision not in known_revisions():
        raise BackupError(
            f"this backup comes from a newer kefu ({manifest.kefu_version}, schema revision "
            f"{manifest.revision}) than this one ({kefu.__version__}); upgrade kefu, then restore"
        )
    forbidden = _forbidden_data_paths(settings)
    for entry in manifest.data_files:
        relative = entry.path.removeprefix(DATA_PREFIX + "/")
        if relative.split("/", 1)[0] == BACKUPS_DIR or any(
            _is_temporary(part) for part in relative.split("/")
        ):
            raise BackupError(f"{archive}: {entry.path} is not a data file kefu backs up; nothing restored")
        if (settings.data_dir / relative).resolve() in forbidden:
            raise BackupError(f"{archive}: {entry.path} would overwrite the live database; nothing restored")
    if not force:
        check_target_empty(settings)
    tools = find_pg_tools("pg_restore", "psql") if target_kind == "postgresql" else {}

    settings.ensure_data_dir()
    with tempfile.TemporaryDirectory(prefix=".kefu-restore-", dir=settings.data_dir) as tmp:
        staging = Path(tmp)
        if _extract_verified(archive, staging) != manifest:
            raise BackupError(f"{archive} changed while it was being restored; nothing was restored")
        database_file = staging / manifest.database_member
        if target_kind == "sqlite":
            revision = _restore_sqlite(database_file, sqlite_path(url), manifest)
            files = _restore_files(settings, staging, manifest)
        else:
            _restore_postgresql(database_file, url, tools)
            files = _restore_files(settings, staging, manifest)
            try:
                upgrade(url)
            except Exception as exc:
                raise BackupError(
                    "the backup was restored, but upgrading its schema (revision "
                    f"{manifest.revision or 'none'}) to this kefu's failed: {exc}; fix the cause and run "
                    "`kefu migrate`"
                ) from None
            revision = head_revision()
    log.info("restored %s into %s", archive, describe_database(url))
    return RestoreReport(archive, describe_database(url), manifest, revision, files)


def _forbidden_data_paths(settings: Settings) -> set[Path]:
    if database_kind(settings.db_url) != "sqlite":
        return set()
    live = sqlite_path(settings.db_url)
    return {live, *(live.with_name(live.name + suffix) for suffix in SQLITE_SIDECARS)}


def _restore_sqlite(staged: Path, target: Path, manifest: Manifest) -> str | None:
    """Check and migrate the staged copy, then copy it over the target in one write transaction.

    The backup API writes through SQLite's own journal (WAL), so readers never see half a
    database and a failure rolls back; unlike replacing the file, it also cannot leave a
    stale -wal file that belongs to the old database.
    """
    try:
        with closing(_sqlite_connect(staged)) as conn:
            check = conn.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise BackupError(f"the database in the backup is damaged ({check}); nothing was restored")
            if _sqlite_revision(conn) != manifest.revision:
                raise BackupError("the database in the backup does not match its manifest; nothing restored")
    except sqlite3.Error as exc:
        raise BackupError(f"the database in the backup is not usable ({exc}); nothing was restored") from None
    if manifest.revision != head_revision():
        try:
            upgrade(f"sqlite+aiosqlite:///{staged}")
        except Exception as exc:
            raise BackupError(
                f"upgrading the backup's schema (revision {manifest.revision or 'none'}) failed: {exc}; "
                "nothing was restored"
            ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(_sqlite_connect(staged)) as src, closing(_sqlite_connect(target, create=True)) as dst:
            _sqlite_copy(src, dst)
            if dst.execute("PRAGMA journal_mode").fetchone() == ("wal",):
                dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return _sqlite_revision(dst)
    except sqlite3.Error as exc:
        raise BackupError(
            f"cannot write the SQLite database {target} ({exc}); it was left as it was — is kefu still "
            "running? Stop it first"
        ) from None


# Inside the restore's transaction, before the dump's own statements: drop whatever is in the
# public schema, so that tables a newer schema added (absent from an older backup) do not
# survive and break the migration that follows. Objects of extensions are left alone.
_PG_CLEAR_PUBLIC = """
DO $kefu_restore$
DECLARE
  item record;
BEGIN
  FOR item IN
    SELECT c.relkind, format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
      AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'i', 'a')
      )
    ORDER BY c.relkind DESC
  LOOP
    EXECUTE format(
      'DROP %s IF EXISTS %s CASCADE',
      CASE item.relkind
        WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
        WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE'
      END,
      item.name
    );
  END LOOP;
  FOR item IN
    SELECT format('%I.%I', n.nspname, t.typname) AS name
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r')
      AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i', 'a')
      )
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', item.name);
  END LOOP;
END
$kefu_restore$;
"""


def _restore_postgresql(dump: Path, url: str, tools: dict[str, Path]) -> None:
    """Replay the dump into the target database inside ONE transaction.

    ``pg_restore --clean --if-exists --no-owner --no-acl`` writes the restore script and psql
    runs it between our BEGIN and COMMIT, after clearing the public schema: any error, or
    pg_restore failing half-way, rolls everything back. COMMIT is only sent once pg_restore
    has finished successfully.
    """
    _run_tool([str(tools["pg_restore"]), "--list", str(dump)], url, "reading the PostgreSQL dump")
    env = {**os.environ, **libpq_environment(url)}
    restore_args = [
        str(tools["pg_restore"]),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-acl",
        "--file=-",
        str(dump),
    ]
    psql_args = [
        str(tools["psql"]),
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--set=ON_ERROR_STOP=1",
        "--file=-",
    ]
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        psql = subprocess.Popen(  # noqa: S603  # absolute program path, arguments we built
            psql_args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env
        )
        producer = subprocess.Popen(  # noqa: S603  # absolute program path, arguments we built
            restore_args, stdout=subprocess.PIPE, stderr=restore_err, env=env
        )
        assert psql.stdin is not None
        assert producer.stdout is not None
        broken = False
        try:
            lock_timeout = f"SET lock_timeout = '{int(LOCK_TIMEOUT_SECONDS * 1000)}ms';\n"
            psql.stdin.write(b"BEGIN;\n" + lock_timeout.encode() + _PG_CLEAR_PUBLIC.encode())
            while chunk := producer.stdout.read(_CHUNK):
                psql.stdin.write(chunk)
            producer_rc = producer.wait()
            if producer_rc == 0:
                psql.stdin.write(b"\nCOMMIT;\n")
            psql.stdin.close()
        except BrokenPipeError:
            broken = True  # psql stopped at an error: its message says which
            producer.kill()
            producer_rc = producer.wait()
        finally:
            producer.stdout.close()
        psql_rc = psql.wait()
        restore_err.seek(0)
        psql_err.seek(0)
        if producer_rc != 0 and not broken:
            # pg_restore died first: whatever psql said about the cut-off script is a consequence.
            message = _tool_error(restore_err.read().decode(errors="replace"))
            raise BackupError(f"pg_restore failed, nothing was changed: {message}")
        if psql_rc != 0 or broken:
            message = _tool_error(psql_err.read().decode(errors="replace"))
            hint = " (is kefu still running? Stop it first)" if "lock timeout" in message else ""
            raise BackupError(
                f"restoring the PostgreSQL database failed, nothing was changed: {message}{hint}"
            )


def _restore_files(settings: Settings, staging: Path, manifest: Manifest) -> list[str]:
    """Put the data files in place, each atomically (written aside with its mode, then renamed)."""
    root = settings.data_dir.resolve()
    restored = []
    for entry in manifest.data_files:
        relative = entry.path.removeprefix(DATA_PREFIX + "/")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(root):
            raise BackupError(f"{target} lies outside the data directory (a symbolic link?); not restored")
        aside = target.with_name(f".{target.name}.{os.getpid()}.restore.tmp")
        try:
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out, (staging / entry.path).open("rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(aside, entry.mode & 0o777)
            os.replace(aside, target)
        except OSError as exc:
            aside.unlink(missing_ok=True)
            raise BackupError(f"the database was restored, but writing {target} failed: {exc}") from None
        restored.append(relative)
    return restored
