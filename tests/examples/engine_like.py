"""Engine-shaped chunk functions for `audit --target` tests. Importing this module would
sleep and write a file: the audit must read it, never import it."""

import math
import time
from math import ceil

time.sleep(30)
open("IMPORTED_BY_AUDIT", "w").close()

MAX_GRID_Y = 65535
TILE = 8


def _per_tile(top_k, num_experts, tile):
    return (num_experts + (MAX_GRID_Y - num_experts + 1) * tile - 1) // top_k


def nested(top_k, num_experts):
    return min(300000, _per_tile(top_k, num_experts, 128))


def with_true_division(num_experts, top_k):
    return int((MAX_GRID_Y - num_experts) * TILE / top_k)


def with_floor_and_ceil(num_experts, top_k):
    return math.floor((MAX_GRID_Y - num_experts) * TILE / top_k) - ceil(num_experts / 1000) + 1


class Experts:
    def chunk(self, top_k, global_num_experts):
        return (MAX_GRID_Y - global_num_experts) * TILE // top_k

    def uses_self(self, top_k, num_experts):
        return self.limit // top_k


def uses_attribute(num_experts, top_k):
    return num_experts.bit_length() // top_k
