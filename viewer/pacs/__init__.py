"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) access to a PACS, through the `dicomweb-client` package.

Qt-free. `config` keeps the user's server list (platformdirs user config dir, JSON);
`client.PacsClient` searches, retrieves (resumable, into a local folder) and stores; every failure
is a `PacsError` whose text is one line naming the thing and the reason.
"""
from viewer.pacs.client import PacsClient, PacsError, RetrieveCancelled, RetrieveResult
from viewer.pacs.config import PacsServer, load_servers, resolve_server, save_servers

__all__ = ["PacsClient", "PacsError", "RetrieveCancelled", "RetrieveResult", "PacsServer",
           "load_servers", "save_servers", "resolve_server"]
