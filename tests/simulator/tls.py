"""HTTPS for the simulator: a throwaway CA (``trustme``) and a server certificate for 127.0.0.1 / localhost.

```python
from tests.simulator import DaktelaSimulator
from tests.simulator.tls import server_context

with DaktelaSimulator(tls=server_context(tmp_path / "ca.pem")) as sim:
    requests.get(sim.url + "/api/v6/whoim.json", verify=str(tmp_path / "ca.pem"))  # sim.url is https://...
```
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(ca_pem_path: str | Path) -> ssl.SSLContext:
    """A server-side SSLContext with a fresh certificate for 127.0.0.1 and localhost; the CA PEM goes to the path.

    Clients that use that file as their CA bundle trust the simulator; clients with the default bundle do not.
    """
    import trustme  # a dev dependency, imported only when HTTPS is wanted

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    path = Path(ca_pem_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(path))
    return ctx
