"""Camera listing: the V4L2 queries, answered by a fake driver (no camera on these machines)."""

from __future__ import annotations

import errno
import struct

from streamer.sources import devices as v4l2


def _fourcc(text: str) -> int:
    return struct.unpack("<I", text.encode())[0]


class FakeDriver:
    """Answers VIDIOC_* ioctls like a webcam with MJPG (two sizes) and YUYV (stepwise)."""

    formats = [_fourcc("MJPG"), _fourcc("YUYV")]
    sizes = {_fourcc("MJPG"): [(1280, 720), (640, 480)]}
    rates = {(1280, 720): [(1, 30), (1, 15)], (640, 480): [(1, 30)]}

    def __call__(self, fd: int, request: int, buffer: bytearray) -> int:
        if request == v4l2.VIDIOC_QUERYCAP:
            buffer[:] = v4l2._CAPABILITY.pack(b"uvcvideo", b"Fake HD Webcam", b"usb-1", 1,
                                              0x84A00001, 0x04200001, 0, 0, 0)
            return 0
        fields = list(struct.unpack_from("=III", buffer))
        index = fields[0]
        if request == v4l2.VIDIOC_ENUM_FMT:
            if index >= len(self.formats):
                raise OSError(errno.EINVAL, "no more")
            buffer[:] = v4l2._FMTDESC.pack(index, 1, 0, b"fmt", self.formats[index], 0, 0, 0, 0)
        elif request == v4l2.VIDIOC_ENUM_FRAMESIZES:
            fourcc = fields[1]
            if fourcc in self.sizes:
                if index >= len(self.sizes[fourcc]):
                    raise OSError(errno.EINVAL, "no more")
                width, height = self.sizes[fourcc][index]
                buffer[:] = v4l2._FRMSIZE.pack(index, fourcc, 1, width, height, 0, 0, 0, 0, 0, 0)
            else:  # stepwise up to 1920x1080
                if index > 0:
                    raise OSError(errno.EINVAL, "no more")
                buffer[:] = v4l2._FRMSIZE.pack(0, fourcc, 3, 160, 1920, 16, 120, 1080, 8, 0, 0)
        elif request == v4l2.VIDIOC_ENUM_FRAMEINTERVALS:
            width, height = struct.unpack_from("=II", buffer, 8)
            intervals = self.rates.get((width, height), [(1, 5)])
            if index >= len(intervals):
                raise OSError(errno.EINVAL, "no more")
            num, den = intervals[index]
            buffer[:] = v4l2._FRMIVAL.pack(index, fields[1], width, height, 1, num, den, 0, 0, 0, 0, 0, 0)
        else:
            raise OSError(errno.ENOTTY, "unknown request")
        return 0


def test_probe_v4l2_when_driver_lists_modes_reports_them() -> None:
    camera = v4l2.probe_v4l2(3, "/dev/video0", FakeDriver())
    assert camera is not None
    assert (camera.device, camera.name) == ("/dev/video0", "Fake HD Webcam")
    assert [str(m) for m in camera.modes] == [
        "1280x720 MJPG @ 30, 15 fps",
        "640x480 MJPG @ 30 fps",
        "1920x1080 YUYV @ 5 fps",
    ]


def test_probe_v4l2_when_node_cannot_capture_skips_it() -> None:
    class MetadataNode(FakeDriver):
        def __call__(self, fd: int, request: int, buffer: bytearray) -> int:
            if request == v4l2.VIDIOC_QUERYCAP:
                buffer[:] = v4l2._CAPABILITY.pack(b"uvcvideo", b"Fake", b"usb-1", 1,
                                                  0x84A00001, 0x04800000, 0, 0, 0)
                return 0
            return super().__call__(fd, request, buffer)

    assert v4l2.probe_v4l2(3, "/dev/video1", MetadataNode()) is None


def test_v4l2_structures_match_the_sizes_encoded_in_their_requests() -> None:
    # an ioctl number carries the size of its argument (bits 16-29): the layouts must agree
    for request, layout in [(v4l2.VIDIOC_QUERYCAP, v4l2._CAPABILITY), (v4l2.VIDIOC_ENUM_FMT, v4l2._FMTDESC),
                            (v4l2.VIDIOC_ENUM_FRAMESIZES, v4l2._FRMSIZE),
                            (v4l2.VIDIOC_ENUM_FRAMEINTERVALS, v4l2._FRMIVAL)]:
        assert (request >> 16) & 0x3FFF == layout.size
