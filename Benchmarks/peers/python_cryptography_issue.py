"""The peer to beat: Python `cryptography` (OpenSSL underneath) issuing P-256 leaves on one core.

Does what TrustChain's issuance benchmark does per certificate: generate a P-256 key, build a
leaf with SAN, key usage, extended key usage, basic constraints, SKI and AKI, sign it with a
P-256 intermediate, and encode certificate and key as PEM. Prints certificates per second.
"""
import datetime
import os
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
import ipaddress

count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
issuer_key = ec.generate_private_key(ec.SECP256R1())
issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Intermediate CA")])
issuer_ski = x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key())
now = datetime.datetime.now(datetime.timezone.utc)

start = time.perf_counter()
for _ in range(count):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node")]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=24))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("node.mesh"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    certificate.public_bytes(serialization.Encoding.PEM)
    key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
elapsed = time.perf_counter() - start
print(f"python cryptography: {count} P-256 leaves in {elapsed:.3f}s = {count / elapsed:.0f}/s")
