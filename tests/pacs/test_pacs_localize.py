"""End to end with a real Orthanc: localize a study found by a PACS query (shipped weights,
gan.inference.Localizer), send the SEG and the SR back (STOW-RS), find them by QIDO-RS and check
their references through Orthanc's own REST API; a send refused with 401 is one line per file
and the files are still written (one line per file)."""
from __future__ import annotations

import io

import highdicom as hd
import pydicom

import main
from viewer.pacs.client import PacsClient


def _errors(capsys):
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("error:")], err


def test_localize_from_pacs_and_send_back(fresh_orthanc, ct_study, tmp_path, capsys,
                                          pacs_config):
    server = fresh_orthanc
    server.upload(sorted(ct_study.folder.glob("*.dcm")))
    out = tmp_path / "out"
    code = main.main(["localize", "--pacs", server.dicomweb, "--patient", "SYN001",
                      "--study-date", "20200401", "--out", str(out), "--format", "npy,seg,sr",
                      "--send", server.dicomweb, "--no-progress", "--device", "cpu"])
    errors, err = _errors(capsys)
    assert code == 0 and errors == [], err
    # the retrieved copy is what was localized
    assert (out / "pacs" / ct_study.study_uid / ct_study.series_uid).is_dir()
    # QIDO: the study now has the CT, two SEGs (mask, map) and the SR
    (study,) = PacsClient(server.dicomweb).search(study_uid=ct_study.study_uid)
    modalities = sorted(s.modality for s in study.series)
    assert modalities == ["CT", "SEG", "SEG", "SR"]
    # Orthanc's REST API: the objects and their references
    by_modality = {}
    for sid in server.rest("GET", "/series"):
        tags = server.rest("GET", f"/series/{sid}")
        by_modality.setdefault(tags["MainDicomTags"]["Modality"], []).append(tags)
    (sr_series,) = by_modality["SR"]
    (sr_id,) = sr_series["Instances"]
    sr = hd.sr.Comprehensive3DSR.from_dataset(
        pydicom.dcmread(io.BytesIO(_file(server, sr_id))))
    assert sr.StudyInstanceUID == ct_study.study_uid
    segs = {}
    for seg_series in by_modality["SEG"]:
        (iid,) = seg_series["Instances"]
        ds = pydicom.dcmread(io.BytesIO(_file(server, iid)))
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct_study.series_uid
        assert {i.ReferencedSOPInstanceUID for i in
                ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence} == \
            {r.sop_instance_uid for r in ct_study.refs}
        segs[ds.SegmentationType] = ds
    (group,) = sr.content.get_volumetric_roi_measurement_groups()
    ref = group.referenced_segment
    assert ref[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
        segs["BINARY"].SOPInstanceUID
    assert ref[1].UID == ct_study.series_uid
    evidence = {item.ReferencedSOPInstanceUID
                for st in sr.CurrentRequestedProcedureEvidenceSequence
                for s in st.ReferencedSeriesSequence for item in s.ReferencedSOPSequence}
    assert evidence == {r.sop_instance_uid for r in ct_study.refs} | \
        {segs["BINARY"].SOPInstanceUID}
    names = {m.name.meaning for m in group.get_measurements()}
    assert "Volume" in names


def _file(server, instance_id: str) -> bytes:
    import requests

    r = requests.get(f"{server.base}/instances/{instance_id}/file", auth=server.auth, timeout=30)
    r.raise_for_status()
    return r.content


def test_send_refused_keeps_files(orthanc_auth, ct_study, tmp_path, capsys, pacs_config):
    out = tmp_path / "out"
    code = main.main(["localize", str(ct_study.folder), "--out", str(out), "--format", "seg,sr",
                      "--send", orthanc_auth.dicomweb, "--no-progress", "--device", "cpu"])
    errors, err = _errors(capsys)
    assert code == 1, err
    assert errors and all(": send: " in e and "HTTP 401" in e for e in errors), err
    assert len(errors) == 3  # one line per file: SEG mask, SEG map, SR
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert {p.name for p in folder.iterdir()} == {"seg_mask.dcm", "seg_map.dcm", "sr.dcm"}
