#!/usr/bin/python3
"""The reference side of the differential tests (tests/tests/differential.rs, issue 16).

Reads one case per line from stdin (fields separated by TAB) and writes one answer line
per case to stdout, in order, from the tools that define each rule:

  dpkg-cmp      A TAB B              -> "<" "=" ">"          apt_pkg.version_compare
                                                              (libapt-pkg, same algorithm as
                                                              `dpkg --compare-versions`)
  depends       FIELD                -> JSON or "ERR"        apt_pkg.parse_depends
  wheel-compat  PY TAB PLATFORM TAB FILENAME -> "1" "0" "ERR"  packaging.tags + utils
  normalize     NAME                 -> the normalized name  packaging.utils.canonicalize_name
  pep440-cmp    A TAB B              -> "<" "=" ">" "ERR"     packaging.version.Version
  pep440-spec   SPECIFIERS TAB VERSION -> "1" "0" "ERR"       packaging.specifiers (prereleases on)
  oci-ref       REFERENCE            -> JSON or "ERR"        the distribution reference grammar
                                                              (regexp.go, normalize.go)

Runs in the venv deploy/test-deps.sh makes: Debian's /usr/bin/python3 with python3-apt
(system site packages) and a pinned `packaging`.
"""
import json
import re
import sys

import apt_pkg
from packaging import tags, utils
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
import packaging
import packaging._manylinux as _manylinux
import packaging._musllinux as _musllinux

apt_pkg.init_system()
_PACKAGING_MAJOR = int(packaging.__version__.split(".")[0])


def sign(n):
    return "<" if n < 0 else (">" if n > 0 else "=")


def dpkg_cmp(a, b):
    return sign(apt_pkg.version_compare(a, b))


def depends(field):
    try:
        groups = apt_pkg.parse_depends(field, False)
    except ValueError:
        return "ERR"
    # python-apt spells the strict operators "<" and ">" (libapt-pkg's CompType); Debian
    # Policy §7.1 and the product write them "<<" and ">>". The loose "<"/">" of old
    # control files come back as "<=" and ">=", as in the product.
    ops = {"<": "<<", ">": ">>"}
    out = [[[n, v, ops.get(op, op)] for (n, v, op) in g] for g in groups]
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


# --- wheel tags: the tags pip would accept for CPython 3.Y on one platform tag ----------

_GLIBC = {"v": (2, 17)}


def _linux_platforms(platform):
    """Platform tags packaging.tags gives a Linux interpreter whose libc is the one the
    target tag names (the host's libc is replaced by the target's)."""
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    m2 = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform)
    m3 = re.fullmatch(r"musllinux_(\d+)_(\d+)_(\w+)", platform)
    if m or m2:
        if m:
            glibc, arch = (int(m.group(1)), int(m.group(2))), m.group(3)
        else:
            glibc, arch = legacy[m2.group(1)], m2.group(2)
        # The interpreter's own libc and ELF header stand in for the target's.
        _manylinux._get_glibc_version = lambda: glibc
        _manylinux._is_compatible = lambda *args: True
        _manylinux._have_compatible_abi = lambda *args: True
        if _PACKAGING_MAJOR >= 24:
            got = _manylinux.platform_tags([arch])
        else:
            got = _manylinux.platform_tags(f"linux_{arch}", arch)
        return list(got) + [f"linux_{arch}"]
    if m3:
        musl, arch = (int(m3.group(1)), int(m3.group(2))), m3.group(3)
        fake = _musllinux._MuslVersion(major=musl[0], minor=musl[1])
        _musllinux._get_musl_version = lambda exe: fake
        got = _musllinux.platform_tags([arch] if _PACKAGING_MAJOR >= 24 else arch)
        return list(got) + [f"linux_{arch}"]
    if platform.startswith("linux_"):
        return [platform]
    return None


def _platforms(platform):
    linux = _linux_platforms(platform)
    if linux is not None:
        return linux
    m = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform)
    if m:
        return list(tags.mac_platforms((int(m.group(1)), int(m.group(2))), m.group(3)))
    return [platform]


_SUPPORTED = {}


def supported(py, platform):
    key = (py, platform)
    if key not in _SUPPORTED:
        minor = int(py.split(".")[1])
        plats = _platforms(platform)
        abis = [f"cp3{minor}"]
        got = set(tags.cpython_tags((3, minor), abis=abis, platforms=plats))
        got |= set(tags.compatible_tags((3, minor), interpreter=f"cp3{minor}", platforms=plats))
        _SUPPORTED[key] = got
    return _SUPPORTED[key]


def wheel_compat(py, platform, filename):
    try:
        _, _, _, wheel_tags = utils.parse_wheel_filename(filename)
    except utils.InvalidWheelFilename:
        return "ERR"
    return "1" if wheel_tags & supported(py, platform) else "0"


def normalize(name):
    return utils.canonicalize_name(name)


def pep440_cmp(a, b):
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return "ERR"
    return sign((va > vb) - (va < vb))


def pep440_spec(spec, version):
    try:
        s = SpecifierSet(spec)
        v = Version(version)
    except (InvalidSpecifier, InvalidVersion):
        return "ERR"
    return "1" if s.contains(v, prereleases=True) else "0"


# --- OCI references: github.com/distribution/reference regexp.go and normalize.go --------

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_NAME_TOTAL_MAX = 255
DEFAULT_DOMAIN = "registry.example.invalid"


def oci_ref(ref):
    """ParseNormalizedNamed with a configurable default domain: the first component is a
    domain when it contains '.' or ':', is 'localhost', or has upper case."""
    i = ref.find("/")
    name_part = ref
    if i == -1 or (not any(c in ref[:i] for c in ".:") and ref[:i] != "localhost"
                   and ref[:i].lower() == ref[:i]):
        domain, remainder = DEFAULT_DOMAIN, ref
    else:
        domain, remainder = ref[:i], ref[i + 1:]
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in remainder.split(":")[0].split("@")[0]:
        remainder = "library/" + remainder
    name_part = f"{domain}/{remainder}"
    m = _REFERENCE.fullmatch(name_part)
    if not m:
        return "ERR"
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > _NAME_TOTAL_MAX:
        return "ERR"
    # The repository part must be lower case (ParseNormalizedNamed refuses upper case
    # outside the domain).
    repo = name[len(domain) + 1:]
    if repo != repo.lower():
        return "ERR"
    # OCI image-spec §Digests narrows the grammar: a sha256 digest's encoded part is
    # exactly [a-f0-9]{64}; the mirror supports sha256 only (its store is sha256-addressed).
    if digest is not None and not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        return "ERR"
    return json.dumps([domain.lower(), repo, tag, digest], separators=(",", ":"), ensure_ascii=False)


KINDS = {
    "dpkg-cmp": dpkg_cmp,
    "depends": depends,
    "wheel-compat": wheel_compat,
    "normalize": normalize,
    "pep440-cmp": pep440_cmp,
    "pep440-spec": pep440_spec,
    "oci-ref": oci_ref,
}


def main():
    fn = KINDS[sys.argv[1]]
    out = sys.stdout
    for line in sys.stdin.buffer:
        fields = line.rstrip(b"\n").decode("utf-8", "surrogateescape").split("\t")
        out.write(fn(*fields) + "\n")


if __name__ == "__main__":
    main()
