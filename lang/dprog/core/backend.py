"""The array namespace: every numeric call in dprog goes through `xp` (today NumPy).

dprog values are NumPy arrays and Python numbers, and the primitives, engines and
builtins call NumPy through this one name, as the Python array API standard
spells it. A second array backend later is then a change of this module and of
the calls whose semantics differ, not an edit of every primitive.
"""

import numpy as xp

__all__ = ["xp"]
