"""A file that rebinds min (refused) and one that defines its own max (lifted as written)."""

min = lambda a, b: a  # noqa: E731


def max(a, b):
    return a


def uses_rebound_min(num_experts, top_k):
    return min(100, num_experts // top_k)


def uses_own_max(num_experts, top_k):
    return max(100, num_experts // top_k)
