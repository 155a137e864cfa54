// The ClientHello reader behind `ssl_preread on` (see preread.h for why it is
// hand-written). feed() is ngx_stream_ssl_preread_handler(): it walks the
// TLS records from the start of the connection and hands each complete
// handshake record to parse_record(), which is
// ngx_stream_ssl_preread_parse_record(): a state machine that wants `size_`
// more bytes for the current field, copies them to `dst_` if the field is
// kept, and on the field's end moves to the next state, checking that the
// next field fits in what is `left_` of the handshake message. The state
// survives record boundaries, so a ClientHello split into many records (or
// fed one byte at a time) parses the same as a whole one.
#include "stream/preread.h"

#include <algorithm>
#include <cstring>

namespace sy::stream {

const char* to_string(PrereadResult r) {
    switch (r) {
    case PrereadResult::NeedMore: return "NeedMore";
    case PrereadResult::Done: return "Done";
    case PrereadResult::NotTls: return "NotTls";
    }
    return "?";
}

PrereadResult Preread::feed(std::string_view all) {
    if (result_ != PrereadResult::NeedMore) return result_;
    if (!all.empty()) fed_any_ = true;
    // A shorter buffer than last time is a caller bug; nothing to do with it.
    if (all.size() < pos_) return result_;

    const auto* base = reinterpret_cast<const uint8_t*>(all.data());
    const size_t last = all.size();
    size_t p = pos_;

    while (last - p >= 5) {
        const uint8_t* h = base + p;

        // SSLv2-format hello: 2-byte length with the top bit set, msg type 1
        // (CLIENT-HELLO), version 0.x or 3.x. nginx checks this at every
        // record start, not only the first.
        if ((h[0] & 0x80) && h[2] == 1 && (h[3] == 0 || h[3] == 3)) {
            version_[0] = h[3];
            version_[1] = h[4];
            return finish(PrereadResult::Done);
        }
        if (h[0] != 0x16) {
            decline("not a handshake");
            return finish(PrereadResult::NotTls);
        }
        if (h[1] != 3) {
            decline("unsupported SSL version");
            return finish(PrereadResult::NotTls);
        }

        size_t len = (size_t(h[3]) << 8) + h[4];
        // Read the whole record before parsing.
        if (last - p < len + 5) {
            pos_ = p;
            need_ = p + 5 + len;
            set_protocol();
            return result_;
        }
        p += 5;

        Rc rc = parse_record(base + p, base + p + len);
        if (rc == Rc::Declined) return finish(PrereadResult::NotTls);
        if (rc == Rc::Ok) return finish(PrereadResult::Done);
        p += len;
    }

    pos_ = p;
    need_ = p + 5;
    set_protocol();
    return result_;
}

Preread::Rc Preread::decline(const char* why) {
    error_ = why;
    return Rc::Declined;
}

PrereadResult Preread::finish(PrereadResult r) {
    result_ = r;
    if (r == PrereadResult::NotTls) {
        // nginx drops its context: the variables are not found.
        info_ = ClientHelloInfo{};
    } else {
        set_protocol();
    }
    host_ = std::string();
    proto_ = std::string();
    need_ = 0;
    return r;
}

// SSL_get_version() format, as nginx's $ssl_preread_protocol.
void Preread::set_protocol() {
    const char* v = "";
    if (version_[0] == 0) {
        if (version_[1] == 2) v = "SSLv2";
    } else if (version_[0] == 3) {
        switch (version_[1]) {
        case 0: v = "SSLv3"; break;
        case 1: v = "TLSv1"; break;
        case 2: v = "TLSv1.1"; break;
        case 3: v = "TLSv1.2"; break;
        case 4: v = "TLSv1.3"; break;
        default: break;
        }
    }
    info_.protocol = v;
}

Preread::Rc Preread::parse_record(const uint8_t* pos, const uint8_t* last) {
    // The next field: `size` bytes, copied to `dst` (from its start) or skipped.
    auto want = [this](Dst dst, size_t size) {
        dst_ = dst;
        dst_off_ = 0;
        size_ = size;
    };
    auto be16 = [this](size_t i) { return (size_t(buf_[i]) << 8) + buf_[i + 1]; };

    for (;;) {
        const size_t n = std::min(size_t(last - pos), size_);
        switch (dst_) {
        case Dst::None: break;
        // A Buf/Version field is at most its array's size and dst_off_ +
        // size_ never grows past it (set from 0 by want(), then both move by n).
        case Dst::Buf:
            std::memcpy(buf_ + dst_off_, pos, n);
            dst_off_ = uint8_t(dst_off_ + n);
            break;
        case Dst::Version:
            std::memcpy(version_ + dst_off_, pos, n);
            dst_off_ = uint8_t(dst_off_ + n);
            break;
        case Dst::Host: host_.append(reinterpret_cast<const char*>(pos), n); break;
        case Dst::Alpn: proto_.append(reinterpret_cast<const char*>(pos), n); break;
        }
        pos += n;
        size_ -= n;
        left_ -= n;   // size_ <= left_ holds (checked below), so no wrap
        if (size_ != 0) break;

        switch (state_) {
        case St::Start:
            state_ = St::Header;
            want(Dst::Buf, 4);
            left_ = 4;
            break;

        case St::Header:   // msg_type, 24-bit length
            if (buf_[0] != 1) return decline("not a client hello");
            state_ = St::Version;
            want(Dst::Version, 2);
            left_ = (size_t(buf_[1]) << 16) + (size_t(buf_[2]) << 8) + buf_[3];
            break;

        case St::Version:
            state_ = St::Random;
            want(Dst::None, 32);
            break;

        case St::Random:
            state_ = St::SidLen;
            want(Dst::Buf, 1);
            break;

        case St::SidLen:
            state_ = St::Sid;
            want(Dst::None, buf_[0]);
            break;

        case St::Sid:
            state_ = St::CsLen;
            want(Dst::Buf, 2);
            break;

        case St::CsLen:
            state_ = St::Cs;
            want(Dst::None, be16(0));
            break;

        case St::Cs:
            state_ = St::CmLen;
            want(Dst::Buf, 1);
            break;

        case St::CmLen:
            state_ = St::Cm;
            want(Dst::None, buf_[0]);
            break;

        case St::Cm:
            if (left_ == 0) return Rc::Ok;   // no extensions
            // The extensions block length is read and not used: nginx goes
            // by the handshake length.
            state_ = St::Ext;
            want(Dst::Buf, 2);
            break;

        case St::Ext:
            if (left_ == 0) return Rc::Ok;
            state_ = St::ExtHeader;
            want(Dst::Buf, 4);
            break;

        case St::ExtHeader: {
            // Only the first SNI and the first ALPN extension count. For
            // these three the extension's own length is not used: the list
            // length inside drives the parse.
            const size_t type = be16(0);
            if (type == 0 && !have_host_) {
                state_ = St::SniLen;
                want(Dst::Buf, 2);
            } else if (type == 16 && !have_alpn_) {
                state_ = St::AlpnLen;
                want(Dst::Buf, 2);
            } else if (type == 43) {
                state_ = St::SupverLen;
                want(Dst::Buf, 1);
            } else {
                state_ = St::Ext;
                want(Dst::None, be16(2));
            }
            break;
        }

        case St::SniLen:   // server_name_list length
            ext_ = be16(0);
            state_ = St::SniHostHead;
            want(Dst::Buf, 3);
            break;

        case St::SniHostHead: {   // name_type, HostName length of the first entry
            if (buf_[0] != 0) return decline("SNI hostname type is not DNS");
            const size_t size = be16(1);
            if (ext_ < 3 + size) return decline("SNI format error");
            ext_ -= 3 + size;
            have_host_ = true;
            host_.clear();
            state_ = St::SniHost;
            want(Dst::Host, size);
            break;
        }

        case St::SniHost:   // further names are skipped
            info_.server_name = std::move(host_);
            host_.clear();
            state_ = St::Ext;
            want(Dst::None, ext_);
            break;

        case St::AlpnLen:   // protocol_name_list length
            ext_ = be16(0);
            have_alpn_ = true;
            state_ = St::AlpnProtoLen;
            want(Dst::Buf, 1);
            break;

        case St::AlpnProtoLen: {
            const size_t size = buf_[0];
            if (size == 0) return decline("ALPN empty protocol");
            if (ext_ < 1 + size) return decline("ALPN format error");
            ext_ -= 1 + size;
            proto_.clear();
            state_ = St::AlpnProtoData;
            want(Dst::Alpn, size);
            break;
        }

        case St::AlpnProtoData:
            info_.alpn += proto_;
            if (ext_ != 0) {
                info_.alpn += ',';
                state_ = St::AlpnProtoLen;
                want(Dst::Buf, 1);
                break;
            }
            state_ = St::Ext;
            want(Dst::None, 0);
            break;

        case St::SupverLen:
            // Present at all means TLSv1.3; the list itself is skipped.
            version_[0] = 3;
            version_[1] = 4;
            state_ = St::Ext;
            want(Dst::None, buf_[0]);
            break;
        }

        if (left_ < size_) return decline("failed to parse handshake");
    }
    return Rc::Again;
}

}  // namespace sy::stream
