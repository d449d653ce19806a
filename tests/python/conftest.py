"""The Python package's tests run on PoCL (POCL_DEVICES=pthread unless set),
against the clgrad-train of CLGRAD_TRAIN_BIN (scripts/test.sh sets it) where
they compare the two."""
import os

import pytest

os.environ.setdefault("POCL_DEVICES", "pthread")
os.environ.setdefault("OCL_ICD_VENDORS", "/etc/OpenCL/vendors/pocl.icd")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def train_bin():
    path = os.environ.get("CLGRAD_TRAIN_BIN") or os.path.join(ROOT, "build-tests", "tools",
                                                              "clgrad-train")
    if not os.access(path, os.X_OK):
        pytest.skip("no clgrad-train (set CLGRAD_TRAIN_BIN)")
    return path


@pytest.fixture
def root():
    return ROOT
