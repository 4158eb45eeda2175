"""A DICOMweb client for one PACS server (QIDO-RS search, WADO-RS retrieve, STOW-RS store).

All HTTP goes through `dicomweb_client.DICOMwebClient`; this module turns its answers into rows
and its failures into one-line `PacsError`s:

    error: PACS http://host/dicom-web: cannot connect (connection refused)
    error: PACS http://host/dicom-web: 401 Unauthorized (wrong or missing user name/password)
    error: study 1.2.3: not found on http://host/dicom-web

Retrieve writes ``<out>/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm``; each instance is written
through ``viewer.io.atomic.atomic_path`` (a hidden ``.part-*`` file, fsynced, then renamed), so a
file with the final name is always complete; a rerun skips the instances already present (and
readable) and fetches the rest. Instances are requested a few at a time (`RETRIEVE_THREADS`).
Progress: ``progress(done, total)`` per instance; returning False cancels (`RetrieveCancelled`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from viewer.io.atomic import atomic_path
from viewer.pacs.config import PacsServer, check_url

Progress = Callable[[int, int], object] | None

STUDY_FIELDS = ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime",
                "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
                "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances")
SERIES_FIELDS = ("SeriesInstanceUID", "StudyInstanceUID", "Modality", "SeriesNumber",
                 "SeriesDescription", "NumberOfSeriesRelatedInstances")
#: instances requested at a time by `PacsClient.retrieve`
RETRIEVE_THREADS = 4
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class PacsError(ValueError):
    """A PACS request failed; the text is one line naming the thing and the reason."""


class RetrieveCancelled(RuntimeError):
    """The progress callback returned False."""


@dataclass
class StudyRow:
    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    description: str = ""
    accession: str = ""
    modalities: str = ""
    n_series: int | None = None
    n_instances: int | None = None
    series: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"study_uid": self.study_uid, "patient_name": self.patient_name,
                "patient_id": self.patient_id, "study_date": self.study_date,
                "description": self.description, "accession": self.accession,
                "modalities": self.modalities, "n_series": self.n_series,
                "n_instances": self.n_instances,
                "series": [s.to_json() for s in self.series]}


@dataclass
class SeriesRow:
    series_uid: str
    study_uid: str
    modality: str = ""
    number: int | None = None
    description: str = ""
    n_instances: int | None = None

    def to_json(self) -> dict:
        return {"series_uid": self.series_uid, "study_uid": self.study_uid,
                "modality": self.modality, "number": self.number,
                "description": self.description, "n_instances": self.n_instances}


@dataclass
class RetrieveResult:
    """What a retrieve did: `folder` holds the study; `failed` lists (SOP UID, reason)."""

    folder: Path
    total: int = 0
    fetched: list[Path] = field(default_factory=list)
    present: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    series_folders: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = (f"{len(self.fetched)} fetched, {len(self.present)} already present, "
                f"{len(self.failed)} failed of {self.total} instances")
        return text


@dataclass
class StoreResult:
    stored: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def check_uid(uid: str, what: str = "UID") -> str:
    text = str(uid).strip()
    if not _UID.match(text) or len(text) > 64:
        raise PacsError(f"{what} {text!r}: not a DICOM UID (digits and dots, at most 64)")
    return text


def describe_http_error(exc: BaseException, timeout_s: float | None = None) -> str:
    """One line for a requests / dicomweb-client failure (never with credentials)."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        reason = _innermost(exc)
        reason = re.sub(r"\s*\(_ssl\.c:\d+\)?\)?$", "", reason)
        return f"TLS error: {reason}"
    if isinstance(exc, requests.exceptions.Timeout):
        after = f" after {timeout_s:g} s" if timeout_s else ""
        return f"timed out{after}: no answer from the server"
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = _innermost(exc)
        if "refused" in reason.lower():
            reason = "connection refused; is the server running and the port right?"
        elif "name or service not known" in reason.lower() or "resolve" in reason.lower():
            reason = "host name not found"
        return f"cannot connect: {reason}"
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        reason = exc.response.reason or ""
        hint = {401: "wrong or missing user name/password",
                403: "access denied for this user",
                404: "no such resource: is the URL the DICOMweb root, e.g. .../dicom-web?",
                409: "conflict (already stored?)"}.get(code, "")
        return f"HTTP {code} {reason}" + (f" ({hint})" if hint else "")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return f"bad URL: {_innermost(exc)}"
    return _innermost(exc)


def _innermost(exc: BaseException) -> str:
    """The most specific one-line reason in an exception chain (urllib3 wraps several)."""
    seen, cur, best = set(), exc, str(exc)
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        text = str(cur).strip()
        if text:
            best = text
        nxt = getattr(cur, "reason", None)
        if isinstance(nxt, BaseException):
            cur = nxt
            continue
        args = getattr(cur, "args", ())
        nested = [a for a in args if isinstance(a, BaseException)]
        cur = nested[0] if nested else (cur.__cause__ or cur.__context__)
    best = re.sub(r"<urllib3[^>]*>:?\s*", "", best.splitlines()[0] if best else "")
    best = re.sub(r"^HTTPConnection\(host=[^)]*\):\s*", "", best)
    m = re.search(r"\[(?:SSL|Errno[^\]]*)[^\]]*\]\s*(.*)", best)
    if m and m.group(1):
        best = m.group(1).rstrip(")")
    return best.strip() or type(exc).__name__


def _one(ds: pydicom.Dataset, keyword: str, default=""):
    value = ds.get(keyword, None)
    if value is None or value == "":
        return default
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value)
    return value


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class PacsClient:
    """One DICOMweb server. Every method raises `PacsError` (one line) on failure."""

    def __init__(self, server: PacsServer | str, timeout_s: float | None = None):
        if isinstance(server, str):
            server = PacsServer(name=server, url=server)
        self.server = server
        self.url = check_url(server.url)
        self.timeout_s = float(timeout_s if timeout_s is not None else server.timeout_s)
        from dicomweb_client.api import DICOMwebClient
        from dicomweb_client.session_utils import create_session, create_session_from_user_pass

        if server.auth == "basic":
            session = create_session_from_user_pass(server.username, server.password)
        else:
            session = create_session()
        if server.ca_bundle or not server.verify_tls:
            # requests lets $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE override a session's own
            # setting; a server configured otherwise must not be overridden by them
            session.trust_env = False
            session.verify = str(server.ca_bundle) if server.verify_tls else False
            if not server.verify_tls:  # the user's choice for this server: no warning per request
                import urllib3

                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._client = DICOMwebClient(self.url, session=session, timeout=self.timeout_s)
        # one attempt per request: the caller decides about retrying
        self._client.set_http_retry_params(retry=False)

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, fn, *args, _server_on_network_error: bool = True, **kwargs):
        """fn(*args, **kwargs); a failure becomes a one-line PacsError naming `what` (or the
        server, when the server could not be reached at all)."""
        import requests

        try:
            return fn(*args, **kwargs)
        except (requests.exceptions.RequestException, OSError) as exc:
            network = isinstance(exc, (requests.exceptions.ConnectionError,
                                       requests.exceptions.Timeout))
            thing = self.where if network and _server_on_network_error else what
            raise PacsError(f"{thing}: {describe_http_error(exc, self.timeout_s)}") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise PacsError(f"{what}: the answer is not DICOMweb ({_innermost(exc)}; is the "
                            "URL the DICOMweb root, e.g. .../dicom-web?)") from None

    def _datasets(self, what: str, answer) -> list[pydicom.Dataset]:
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise PacsError(f"{what}: the answer is not a DICOMweb JSON list (is the URL the "
                            "DICOMweb root, e.g. .../dicom-web?)")
        out = []
        for item in answer:
            try:
                out.append(pydicom.Dataset.from_json(item))
            except (ValueError, TypeError, KeyError) as exc:
                raise PacsError(f"{what}: unreadable DICOM JSON ({exc})") from None
        return out

    @property
    def where(self) -> str:
        return f"PACS {self.url}"

    # ------------------------------------------------------------------ QIDO-RS
    def search_studies(self, patient: str | None = None, study_date: str | None = None,
                       modality: str | None = None, study_uid: str | None = None,
                       limit: int | None = None) -> list[StudyRow]:
        """Studies matching the filters (DICOM matching: `*` wildcards in names and IDs,
        dates ``YYYYMMDD`` or ranges ``YYYYMMDD-YYYYMMDD``)."""
        filters = {}
        if patient:
            key = "PatientID" if not any(c in patient for c in "^ ") and \
                not patient.endswith("*") else "PatientName"
            filters[key] = patient
        if study_date:
            filters["StudyDate"] = _check_date(study_date)
        if modality:
            filters["ModalitiesInStudy"] = modality.upper()
        if study_uid:
            filters["StudyInstanceUID"] = check_uid(study_uid, "study")
        answer = self._call(self.where, self._client.search_for_studies,
                            search_filters=filters, fields=list(STUDY_FIELDS), limit=limit)
        rows = []
        for ds in self._datasets(self.where, answer):
            rows.append(StudyRow(
                study_uid=str(_one(ds, "StudyInstanceUID")),
                patient_name=str(_one(ds, "PatientName")),
                patient_id=str(_one(ds, "PatientID")),
                study_date=str(_one(ds, "StudyDate")),
                description=str(_one(ds, "StudyDescription")),
                accession=str(_one(ds, "AccessionNumber")),
                modalities=str(_one(ds, "ModalitiesInStudy")),
                n_series=_int(_one(ds, "NumberOfStudyRelatedSeries", None)),
                n_instances=_int(_one(ds, "NumberOfStudyRelatedInstances", None))))
        return rows

    def search_series(self, study_uid: str, modality: str | None = None) -> list[SeriesRow]:
        study_uid = check_uid(study_uid, "study")
        filters = {"Modality": modality.upper()} if modality else {}
        answer = self._call(f"study {study_uid}", self._client.search_for_series,
                            study_instance_uid=study_uid, search_filters=filters,
                            fields=list(SERIES_FIELDS))
        rows = []
        for ds in self._datasets(f"study {study_uid}", answer):
            rows.append(SeriesRow(
                series_uid=str(_one(ds, "SeriesInstanceUID")), study_uid=study_uid,
                modality=str(_one(ds, "Modality")), number=_int(_one(ds, "SeriesNumber", None)),
                description=str(_one(ds, "SeriesDescription")),
                n_instances=_int(_one(ds, "NumberOfSeriesRelatedInstances", None))))
        rows.sort(key=lambda r: (r.number is None, r.number or 0, r.series_uid))
        return rows

    def search(self, patient=None, study_date=None, modality=None, study_uid=None,
               limit=None) -> list[StudyRow]:
        """Studies with their series (series filtered by `modality` too)."""
        studies = self.search_studies(patient, study_date, modality, study_uid, limit)
        for st in studies:
            st.series = self.search_series(st.study_uid, modality)
        return studies

    def instances(self, study_uid: str, series_uid: str | None = None,
                  sop_uid: str | None = None) -> list[tuple[str, str, str]]:
        """(study, series, SOP Instance UID) of every instance; PacsError when there is none."""
        study_uid = check_uid(study_uid, "study")
        what = f"study {study_uid}" if not series_uid else f"series {series_uid}"
        kwargs = {"study_instance_uid": study_uid}
        if series_uid:
            kwargs["series_instance_uid"] = check_uid(series_uid, "series")
        if sop_uid:
            kwargs["search_filters"] = {"SOPInstanceUID": check_uid(sop_uid, "instance")}
        kwargs["fields"] = ["SeriesInstanceUID", "SOPInstanceUID"]
        try:
            answer = self._call(what, self._client.search_for_instances, **kwargs)
        except PacsError as exc:
            if "HTTP 404" in str(exc):
                raise PacsError(f"{what}: not found on {self.url}") from None
            raise
        out = []
        for ds in self._datasets(what, answer):
            out.append((study_uid, str(_one(ds, "SeriesInstanceUID", series_uid or "")),
                        str(_one(ds, "SOPInstanceUID"))))
        return out

    # ------------------------------------------------------------------ WADO-RS
    def retrieve(self, study_uid: str, series_uid: str | None, out_dir: str | Path,
                 progress: Progress = None, parallel: int = RETRIEVE_THREADS) -> RetrieveResult:
        """Fetch a study or one series into ``out_dir/<study>/<series>/`` (resumable).

        Instances already present and readable are skipped; one that fails is listed in
        ``result.failed`` and the others are still fetched. `parallel` instances are requested
        at a time (threads; 1 = one after the other). ``progress(done, total)`` is called in
        the calling thread; returning False stops after the requests in flight
        (RetrieveCancelled); what was written is kept and complete.
        """
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        study_uid = check_uid(study_uid, "study")
        if series_uid:
            series_uid = check_uid(series_uid, "series")
        wanted = self.instances(study_uid, series_uid)
        if not wanted:
            what = f"series {series_uid} of study {study_uid}" if series_uid else \
                f"study {study_uid}"
            raise PacsError(f"{what}: not found on {self.url}")
        root = Path(out_dir) / study_uid
        result = RetrieveResult(root, total=len(wanted))
        folders: dict[str, Path] = {}
        done = 0
        _report(progress, done, len(wanted))
        todo = []
        for st, se, sop in wanted:
            folder = folders.get(se)
            if folder is None:
                folder = root / se
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise PacsError(f"folder {folder}: cannot create "
                                    f"({exc.strerror or exc})") from None
                folders[se] = folder
            target = folder / f"{sop}.dcm"
            if target.exists() and _complete(target, sop):
                result.present.append(target)
                done += 1
            else:
                todo.append((st, se, sop, target))
        result.series_folders = list(folders.values())
        _report(progress, done, len(wanted))
        with ThreadPoolExecutor(max_workers=max(1, int(parallel))) as pool:
            pending = set()
            queue = list(reversed(todo))
            cancelled = False
            while queue or pending:
                while queue and len(pending) < max(1, int(parallel)) and not cancelled:
                    pending.add(pool.submit(self._fetch_one, *queue.pop()))
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    target, failure = fut.result()
                    if failure:
                        result.failed.append(failure)
                    else:
                        result.fetched.append(target)
                    done += 1
                if not cancelled and progress is not None and \
                        progress(done, len(wanted)) is False:
                    cancelled = True
                    queue.clear()
            if cancelled:
                raise RetrieveCancelled(f"retrieve cancelled after {done} of {len(wanted)} "
                                        "instances (rerun to resume)")
        result.failed.sort()
        return result

    def _fetch_one(self, st: str, se: str, sop: str, target: Path):
        """(target, None) when written, or (target, (sop, reason)); never raises."""
        try:
            ds = self._call(f"instance {sop}", self._client.retrieve_instance,
                            study_instance_uid=st, series_instance_uid=se,
                            sop_instance_uid=sop, _server_on_network_error=False)
            _write_atomic(ds, target)
        except PacsError as exc:
            return target, (sop, str(exc))
        except (OSError, ValueError) as exc:
            return target, (sop, f"instance {sop}: cannot write {target} "
                                 f"({getattr(exc, 'strerror', None) or exc})")
        except Exception as exc:  # noqa: BLE001 - one bad instance never stops the retrieve
            return target, (sop, f"instance {sop}: {type(exc).__name__}: {exc}")
        return target, None

    # ------------------------------------------------------------------ STOW-RS
    def exists(self, study_uid: str, sop_uid: str) -> bool:
        try:
            return bool(self.instances(study_uid, sop_uid=sop_uid))
        except PacsError as exc:
            if "not found" in str(exc):
                return False
            raise

    def store(self, items: Iterable[str | Path | pydicom.Dataset],
              skip_duplicates: bool = True) -> StoreResult:
        """STOW-RS each item (a file path or a Dataset), one request per instance.

        An instance whose SOP Instance UID the server already has is not sent again and is
        listed in ``duplicates``; failures are listed in ``failed`` as (name, reason).
        """
        result = StoreResult()
        for item in items:
            name = str(item) if not isinstance(item, pydicom.Dataset) else \
                str(item.get("SOPInstanceUID", "dataset"))
            try:
                ds = item if isinstance(item, pydicom.Dataset) else pydicom.dcmread(str(item))
            except (OSError, pydicom.errors.InvalidDicomError) as exc:
                result.failed.append((name, f"{name}: cannot read ({exc})"))
                continue
            sop, study = str(ds.get("SOPInstanceUID", "")), str(ds.get("StudyInstanceUID", ""))
            if not sop or not study:
                result.failed.append((name, f"{name}: no SOP Instance or Study UID"))
                continue
            try:
                if skip_duplicates and self.exists(study, sop):
                    result.duplicates.append(sop)
                    continue
                answer = self._call(f"store {name}", self._client.store_instances,
                                    datasets=[ds], study_instance_uid=study)
            except PacsError as exc:
                result.failed.append((name, str(exc)))
                continue
            failed = _stow_failures(answer)
            if failed:
                result.failed.append((name, f"store {name}: refused by the server ({failed})"))
            else:
                result.stored.append(sop)
        return result


def _stow_failures(answer) -> str:
    seq = getattr(answer, "FailedSOPSequence", None) if answer is not None else None
    if not seq:
        return ""
    reasons = []
    for item in seq:
        reasons.append(f"{item.get('ReferencedSOPInstanceUID', '?')}: failure reason "
                       f"{item.get('FailureReason', '?')}")
    return "; ".join(reasons)


def _check_date(text: str) -> str:
    t = str(text).strip().replace("/", "").replace(":", "")
    if not re.match(r"^(\d{8})?(-(\d{8})?)?$", t) or t in ("", "-"):
        raise PacsError(f"--study-date {text}: use YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    return t


def _report(progress: Progress, done: int, total: int) -> None:
    if progress is not None and progress(done, total) is False:
        raise RetrieveCancelled(f"retrieve cancelled after {done} of {total} instances")


def _complete(path: Path, sop: str) -> bool:
    """True when `path` is a readable DICOM file of instance `sop` with all its pixel data."""
    try:
        ds = pydicom.dcmread(str(path))
    except Exception:  # noqa: BLE001 - any read failure means "fetch again"
        return False
    if str(ds.get("SOPInstanceUID", "")) != sop:
        return False
    if "PixelData" in ds and not ds.file_meta.TransferSyntaxUID.is_compressed:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.get("BitsAllocated", 8))
        n = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * frames
        need = (n * bits + 7) // 8
        return len(ds.PixelData) >= need
    return True


def _write_atomic(ds: pydicom.Dataset, target: Path) -> None:
    with atomic_path(target) as tmp:
        ds.save_as(str(tmp), enforce_file_format=True)


def as_table(studies: Sequence[StudyRow]) -> str:
    """A plain-text table: one line per study, its series indented below."""
    lines = []
    head = f"{'date':<10} {'patient':<24} {'id':<12} {'mod':<6} {'#ser':>4} {'#inst':>5}  " \
           "description / study UID"
    lines.append(head)
    for st in studies:
        lines.append(f"{st.study_date:<10} {st.patient_name[:24]:<24} {st.patient_id[:12]:<12} "
                     f"{st.modalities[:6]:<6} {_n(st.n_series):>4} {_n(st.n_instances):>5}  "
                     f"{st.description}  {st.study_uid}")
        for se in st.series:
            lines.append(f"{'':<10}   series {_n(se.number):>4} {se.modality:<6} "
                         f"{_n(se.n_instances):>5} inst  {se.description}  {se.series_uid}")
    return "\n".join(lines)


def _n(v) -> str:
    return "" if v is None else str(v)
