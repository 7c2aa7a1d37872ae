#!/bin/sh
# Makes the test vectors of core/legacyhash_vectors_test.go with the real
# libraries, from Debian 12's packages (run as root once):
#
#	apt-get update
#	apt-get install -y python3-werkzeug python3-passlib python3-django php-cli
#
# and then, from this directory:
#
#	sh make-vectors.sh
#
# It rewrites *.jsonl here: one vector a line, {"format", "password",
# "hash", "salt" (discuz only), "by" (the call that made it)}. Salts are
# random, so each run writes other hashes; every hash is checked with the
# same library's own verify before it is written. The Go tests read these
# files and need neither Python nor PHP.
set -eu
cd "$(dirname "$0")"
PY=/usr/bin/python3 # Debian's, where the packages above are

# werkzeug 2.2.2 (Flask's; Debian 12's python3-werkzeug): pbkdf2 with
# sha1, sha256 and sha512, at werkzeug's default iterations and at few.
$PY - >werkzeug.jsonl <<'PY'
import json, werkzeug
from werkzeug.security import generate_password_hash, check_password_hash
out = []
def add(method, pw):
    h = generate_password_hash(pw, method=method)
    assert check_password_hash(h, pw) and not check_password_hash(h, pw + "x")
    out.append({"format": "werkzeug-pbkdf2", "password": pw, "hash": h,
                "by": "werkzeug %s generate_password_hash(pw, method=%r)" % (werkzeug.__version__, method)})
add("pbkdf2:sha256", "password")  # werkzeug's default iterations
for pw in ["password", "pässwörd 密码", "a$b:c", "x" * 100]:
    for m in ["pbkdf2:sha256:1000", "pbkdf2:sha1:1000", "pbkdf2:sha512:1000"]:
        add(m, pw)
add("pbkdf2:sha256:1", "one iteration")
for v in out:
    print(json.dumps(v, ensure_ascii=False))
PY

# werkzeug 3's scrypt. Debian 12's werkzeug (2.2.2) predates scrypt
# (werkzeug 3.0 added it, and made it the default), and Debian is the
# only Python source here, so these are made by the call werkzeug 3's
# _hash_internal makes for "scrypt:N:r:p": Python's hashlib.scrypt
# (OpenSSL's) with the UTF-8 password and salt, werkzeug's maxmem, the
# default 64-byte key, in hex; with werkzeug's salt alphabet and length.
$PY - >werkzeug-scrypt.jsonl <<'PY'
import hashlib, json, secrets
SALT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
out = []
def add(n, r, p, pw):
    salt = "".join(secrets.choice(SALT_CHARS) for _ in range(16))
    key = hashlib.scrypt(pw.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
    out.append({"format": "werkzeug-scrypt", "password": pw, "hash": "scrypt:%d:%d:%d$%s$%s" % (n, r, p, salt, key),
                "by": "hashlib.scrypt as werkzeug 3 generate_password_hash(pw, method=%r)" % ("scrypt:%d:%d:%d" % (n, r, p))})
add(32768, 8, 1, "password")  # werkzeug 3's default
for pw in ["password", "pässwörd 密码", "x" * 100]:
    add(1024, 8, 1, pw)
add(16, 2, 3, "small r, p > 1")
for v in out:
    print(json.dumps(v, ensure_ascii=False))
PY

# Django 3.2 (Debian 12's python3-django): PBKDF2PasswordHasher and
# PBKDF2SHA1PasswordHasher, at Django's default iterations and at few.
$PY - >django.jsonl <<'PY'
import json, django
from django.conf import settings
settings.configure()
from django.contrib.auth.hashers import PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher, make_password, check_password
out = []
def add(hasher, pw, iterations=None):
    salt = hasher.salt()
    h = hasher.encode(pw, salt, iterations) if iterations else hasher.encode(pw, salt)
    assert hasher.verify(pw, h) and not hasher.verify(pw + "x", h)
    out.append({"format": "django-pbkdf2", "password": pw, "hash": h,
                "by": "Django %s %s().encode(pw, salt%s)" % (django.get_version(), type(hasher).__name__, ", %d" % iterations if iterations else "")})
add(PBKDF2PasswordHasher(), "password")  # Django's default iterations
add(PBKDF2SHA1PasswordHasher(), "password")
for pw in ["password", "pässwörd 密码", "a$b:c", "x" * 100]:
    add(PBKDF2PasswordHasher(), pw, 1000)
    add(PBKDF2SHA1PasswordHasher(), pw, 1000)
for v in out:
    print(json.dumps(v, ensure_ascii=False))
PY

# passlib 1.7.4 (Debian 12's python3-passlib): pbkdf2_sha1/sha256/sha512,
# sha256_crypt and sha512_crypt (its own implementation: passlib's
# builtin backend, not the C library's crypt), and phpass ($P$ and $H$).
$PY - >passlib.jsonl <<'PY'
import json, passlib
from passlib import hash as ph
out = []
def add(format, handler, pw, desc, **kw):
    h = handler.using(**kw).hash(pw) if kw else handler.hash(pw)
    assert handler.verify(pw, h) and not handler.verify(pw + "x", h)
    out.append({"format": format, "password": pw, "hash": h, "by": "passlib %s %s" % (passlib.__version__, desc)})
pws = ["password", "pässwörd 密码", "a$b:c", "x" * 100]
for name in ["pbkdf2_sha1", "pbkdf2_sha256", "pbkdf2_sha512"]:
    add("passlib-pbkdf2", getattr(ph, name), "password", "%s.hash(pw)" % name)  # passlib's default rounds
    for pw in pws:
        add("passlib-pbkdf2", getattr(ph, name), pw, "%s.using(rounds=1000).hash(pw)" % name, rounds=1000)
for name, format in [("sha256_crypt", "sha256-crypt"), ("sha512_crypt", "sha512-crypt")]:
    handler = getattr(ph, name)
    handler.set_backend("builtin")
    add(format, handler, "password", "%s.hash(pw)" % name)  # passlib's default rounds
    for pw in pws:
        add(format, handler, pw, "%s.using(rounds=5000).hash(pw)" % name, rounds=5000)  # implicit rounds
        add(format, handler, pw, "%s.using(rounds=1000).hash(pw)" % name, rounds=1000)
    add(format, handler, "short salt", "%s.using(rounds=1000, salt_size=2).hash(pw)" % name, rounds=1000, salt_size=2)
add("phpass", ph.phpass, "password", "phpass.hash(pw)")  # passlib's default rounds (2^19)
for pw in pws:
    add("phpass", ph.phpass, pw, "phpass.using(rounds=8).hash(pw)", rounds=8)
    add("phpass", ph.phpass, pw, "phpass.using(rounds=11, ident='H').hash(pw)", rounds=11, ident="H")
add("phpass", ph.phpass, "wordpress", "phpass.using(rounds=13).hash(pw)", rounds=13)
for v in out:
    print(json.dumps(v, ensure_ascii=False))
PY

# PHP 8.2 (Debian 12's php-cli): crypt() with $5$ and $6$ (PHP's own
# sha-crypt), including the specification's examples' inputs (a salt
# longer than 16 characters is cut to 16), and Discuz!/UCenter's
# md5(md5($password).$salt), its salt made as UCenter makes it.
php >php.jsonl <<'PHP'
<?php
$out = [];
$v = PHP_VERSION;
function sc(&$out, $format, $setting, $pw) {
    global $v;
    $h = crypt($pw, $setting);
    if (strlen($h) < 13 || !hash_equals($h, crypt($pw, $h)) || hash_equals($h, crypt($pw . "x", $h))) { fwrite(STDERR, "crypt failed\n"); exit(1); }
    $out[] = ["format" => $format, "password" => $pw, "hash" => $h, "by" => "PHP $v crypt(pw, '$setting')"];
}
function rsalt() { return substr(strtr(base64_encode(random_bytes(12)), '+', '.'), 0, 16); }
foreach (["password", "pässwörd 密码", "a\$b:c", str_repeat("x", 100)] as $pw) {
    sc($out, "sha256-crypt", '$5$' . rsalt() . '$', $pw);
    sc($out, "sha512-crypt", '$6$rounds=2000$' . rsalt() . '$', $pw);
}
sc($out, "sha256-crypt", '$5$saltstring', "Hello world!");
sc($out, "sha512-crypt", '$6$saltstring', "Hello world!");
sc($out, "sha256-crypt", '$5$rounds=10000$saltstringsaltstring', "Hello world!");
sc($out, "sha512-crypt", '$6$rounds=10000$saltstringsaltstring', "Hello world!");
sc($out, "sha256-crypt", '$5$rounds=5000$toolongsaltstring', "This is just a test");
foreach (["password", "pässwörd 密码", "123456", str_repeat("y", 100)] as $pw) {
    $salt = substr(uniqid(rand()), -6); // UCenter's uc_user_register
    $out[] = ["format" => "discuz", "password" => $pw, "hash" => md5(md5($pw) . $salt), "salt" => $salt,
              "by" => "PHP $v md5(md5(\$password).\$salt), salt substr(uniqid(rand()), -6)"];
}
foreach ($out as $o) { echo json_encode($o, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n"; }
PHP
wc -l ./*.jsonl
