import gzip

import pandas as pd
import pytest

from ml.data import join_uri, load_applications, parse_applications
from ml.file_formats import DataFormatError


def test_s3_file_loads_like_the_local_one(s3_bucket, sample_text):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="pakdd/modelling.txt", Body=sample_text.encode("latin-1"))
    from_s3 = load_applications(join_uri(f"s3://{bucket}/pakdd", "modelling.txt"), require_label=True)
    pd.testing.assert_frame_equal(from_s3.frame, parse_applications(sample_text, require_label=True).frame)


def test_gzip_on_s3(s3_bucket, sample_text):
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="a.txt.gz", Body=gzip.compress(sample_text.encode("latin-1")))
    assert len(load_applications(f"s3://{bucket}/a.txt.gz").frame) == 600


def test_missing_s3_key_is_a_clear_error(s3_bucket):
    _, bucket = s3_bucket
    with pytest.raises(DataFormatError, match=rf"cannot read s3://{bucket}/absent.txt: .*key"):
        load_applications(f"s3://{bucket}/absent.txt")


def test_s3_address_without_key_is_refused():
    with pytest.raises(DataFormatError, match="needs a bucket and a key"):
        load_applications("s3://only-a-bucket")
