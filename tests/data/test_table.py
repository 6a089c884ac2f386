"""Tables: what the reader hands its callers."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from nnctl.data.table import read_table

from helpers import write


def test_table_numbers_hands_over_arrays_the_caller_owns(tmp_path):
    path = write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n5,6\n")
    table = read_table(path)
    first = table.numbers([0, 1], np.float64, "feature")
    first *= 100  # the caller scales its array in place, as prepare_data does
    again = table.numbers([0, 1], np.float64, "feature")
    assert_array_equal(again, [[1, 2], [3, 4], [5, 6]])
    looked = table.maybe_numbers([0, 1])  # every column: the table's cache itself
    with pytest.raises(ValueError, match="read-only"):
        looked[0, 0] = 7
