"""Which modules outside the repository a Lambda function can import.

On Lambda that is the standard library, the SDK bundled with the runtime (boto3 and its
dependencies), and whatever the function's build installs from a requirements file in its
code root or in one of its layers. Distribution names are mapped to the top-level import
names they provide (PyYAML -> yaml); unknown distributions are assumed to provide their
normalised name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)

# Shipped with every Python runtime (the AWS SDK and what it depends on).
BUNDLED = frozenset({
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six",
    "awslambdaric", "_distutils_hack", "pkg_resources", "setuptools", "pip",
})

# Distributions whose import name differs from their normalised name.
DIST_TO_MODULES: dict[str, tuple[str, ...]] = {
    "pyyaml": ("yaml", "_yaml"),
    "python_dateutil": ("dateutil",),
    "beautifulsoup4": ("bs4",),
    "pillow": ("PIL",),
    "scikit_learn": ("sklearn",),
    "scikit_image": ("skimage",),
    "opencv_python": ("cv2",),
    "opencv_python_headless": ("cv2",),
    "psycopg2_binary": ("psycopg2",),
    "psycopg_binary": ("psycopg_binary",),
    "psycopg": ("psycopg",),
    "pyjwt": ("jwt",),
    "python_jose": ("jose",),
    "attrs": ("attr", "attrs"),
    "protobuf": ("google",),
    "google_api_python_client": ("googleapiclient", "apiclient"),
    "google_auth": ("google",),
    "google_cloud_storage": ("google",),
    "googleapis_common_protos": ("google",),
    "grpcio": ("grpc",),
    "pymysql": ("pymysql",),
    "mysql_connector_python": ("mysql",),
    "mysqlclient": ("MySQLdb",),
    "python_dotenv": ("dotenv",),
    "python_json_logger": ("pythonjsonlogger",),
    "python_multipart": ("multipart", "python_multipart"),
    "pycryptodome": ("Crypto",),
    "pycryptodomex": ("Cryptodome",),
    "pyopenssl": ("OpenSSL",),
    "aws_lambda_powertools": ("aws_lambda_powertools",),
    "aws_xray_sdk": ("aws_xray_sdk",),
    "aws_requests_auth": ("aws_requests_auth",),
    "requests_aws4auth": ("requests_aws4auth",),
    "typing_extensions": ("typing_extensions",),
    "msgpack_python": ("msgpack",),
    "pyserial": ("serial",),
    "pyzmq": ("zmq",),
    "pygithub": ("github",),
    "gitpython": ("git",),
    "faiss_cpu": ("faiss",),
    "tensorflow_cpu": ("tensorflow",),
    "ruamel_yaml": ("ruamel",),
    "setuptools": ("setuptools", "pkg_resources", "_distutils_hack"),
    "dnspython": ("dns",),
    "email_validator": ("email_validator",),
    "pynacl": ("nacl",),
    "websocket_client": ("websocket",),
    "pymongo": ("pymongo", "bson", "gridfs"),
    "elasticsearch_dsl": ("elasticsearch_dsl",),
    "opensearch_py": ("opensearchpy",),
    "python_magic": ("magic",),
    "python_slugify": ("slugify",),
    "pytz": ("pytz",),
    "tzdata": ("tzdata",),
    "zope_interface": ("zope",),
    "python_docx": ("docx",),
    "python_pptx": ("pptx",),
    "pdfminer_six": ("pdfminer",),
    "pypdf2": ("PyPDF2",),
    "markupsafe": ("markupsafe",),
    "jinja2": ("jinja2",),
    "importlib_metadata": ("importlib_metadata",),
    "stripe": ("stripe",),
    "sentry_sdk": ("sentry_sdk",),
    "mangum": ("mangum",),
    "aws_cdk_lib": ("aws_cdk",),
    "constructs": ("constructs",),
    "moto": ("moto",),
    "pydantic_settings": ("pydantic_settings",),
    "pydantic_core": ("pydantic_core",),
    "strawberry_graphql": ("strawberry",),
    "graphql_core": ("graphql",),
    "ujson": ("ujson",),
    "orjson": ("orjson",),
    "simplejson": ("simplejson",),
    "redis": ("redis",),
    "hiredis": ("hiredis",),
    "twilio": ("twilio",),
    "sendgrid": ("sendgrid", "python_http_client"),
    "slack_sdk": ("slack_sdk",),
    "slackclient": ("slack",),
    "python_http_client": ("python_http_client",),
    "pyasn1_modules": ("pyasn1_modules",),
    "cachetools": ("cachetools",),
    "crhelper": ("crhelper",),
    "aws_encryption_sdk": ("aws_encryption_sdk",),
    "pynamodb": ("pynamodb",),
    "boto3_stubs": (),
    "mypy_boto3_s3": ("mypy_boto3_s3",),
}

def normalize_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def modules_of(dist: str) -> tuple[str, ...]:
    key = normalize_dist(dist)
    return DIST_TO_MODULES.get(key, (key,))


def of_distributions(dists: Iterable[str]) -> ThirdParty:
    """The import names of distributions known only by name: the table's, else guessed."""
    modules: set[str] = set()
    guessed: set[str] = set()
    for name in dists:
        modules.update(modules_of(name))
        if normalize_dist(name) not in DIST_TO_MODULES:
            guessed.add(re.sub(r"[-_.]", "", name).lower())
    return ThirdParty(frozenset(modules), tuple(sorted(guessed)))


class ThirdParty:
    """The top-level modules installed beside a function's code.

    Known distributions map to their import names; for the others the import name is
    a guess, so a missing module whose name is part of such a distribution's name
    (`telegram` in python-telegram-bot, `linebot` in line-bot-sdk) counts as provided:
    a wrong guess must not fail a required check.
    """

    def __init__(self, modules: frozenset[str] = frozenset(), guessed: tuple[str, ...] = ()):
        self.modules = modules
        self.guessed = guessed  # squashed names of distributions missing from the table

    def __contains__(self, name: str) -> bool:
        if name in self.modules:
            return True
        squashed = re.sub(r"[-_.]", "", name).lower()
        return len(squashed) >= 3 and any(squashed in dist for dist in self.guessed)

    def __or__(self, other: frozenset[str]) -> ThirdParty:
        return ThirdParty(self.modules | frozenset(other), self.guessed)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ThirdParty) and self.modules == other.modules
                and self.guessed == other.guessed)

    def __hash__(self) -> int:
        return hash((self.modules, self.guessed))
