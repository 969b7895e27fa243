"""kstream's Cloud Functions entry points: one per entry of functions.yaml, nothing else lives here.

Each is deployed as its own gen2 function with ``--entry-point <name>``. The work happens in the ``kstream``
package beside this file; entry points only bind a handler to its function-list entry.
"""

from kstream.api import auth_validate as _auth
from kstream.http import http_function

auth_validate = http_function("auth-validate", _auth.validate_token)
