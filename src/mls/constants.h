/*
 * Code points of RFC 9420 (§6, §7, §12, §17 and the IANA registries of §17).
 */
#ifndef MG_HEADER_MLS_CONSTANTS_H
#define MG_HEADER_MLS_CONSTANTS_H

#include <stdint.h>

/* ProtocolVersion (§6) */
#define MLS_VERSION_MLS10 ((uint16_t)1)

/* WireFormat (§6, §17.2) */
#define MLS_WIRE_PUBLIC_MESSAGE ((uint16_t)1)
#define MLS_WIRE_PRIVATE_MESSAGE ((uint16_t)2)
#define MLS_WIRE_WELCOME ((uint16_t)3)
#define MLS_WIRE_GROUP_INFO ((uint16_t)4)
#define MLS_WIRE_KEY_PACKAGE ((uint16_t)5)

/* ContentType (§6) */
#define MLS_CONTENT_APPLICATION ((uint8_t)1)
#define MLS_CONTENT_PROPOSAL ((uint8_t)2)
#define MLS_CONTENT_COMMIT ((uint8_t)3)

/* SenderType (§6) */
#define MLS_SENDER_MEMBER ((uint8_t)1)
#define MLS_SENDER_EXTERNAL ((uint8_t)2)
#define MLS_SENDER_NEW_MEMBER_PROPOSAL ((uint8_t)3)
#define MLS_SENDER_NEW_MEMBER_COMMIT ((uint8_t)4)

/* ProposalType (§12.1, §17.4) */
#define MLS_PROPOSAL_ADD ((uint16_t)1)
#define MLS_PROPOSAL_UPDATE ((uint16_t)2)
#define MLS_PROPOSAL_REMOVE ((uint16_t)3)
#define MLS_PROPOSAL_PSK ((uint16_t)4)
#define MLS_PROPOSAL_REINIT ((uint16_t)5)
#define MLS_PROPOSAL_EXTERNAL_INIT ((uint16_t)6)
#define MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS ((uint16_t)7)

/* ProposalOrRefType (§12.4) */
#define MLS_PROPOSAL_OR_REF_PROPOSAL ((uint8_t)1)
#define MLS_PROPOSAL_OR_REF_REFERENCE ((uint8_t)2)

/* ExtensionType (§13, §17.3) */
#define MLS_EXT_APPLICATION_ID ((uint16_t)1)
#define MLS_EXT_RATCHET_TREE ((uint16_t)2)
#define MLS_EXT_REQUIRED_CAPABILITIES ((uint16_t)3)
#define MLS_EXT_EXTERNAL_PUB ((uint16_t)4)
#define MLS_EXT_EXTERNAL_SENDERS ((uint16_t)5)

/* CredentialType (§5.3, §17.5) */
#define MLS_CREDENTIAL_BASIC ((uint16_t)1)
#define MLS_CREDENTIAL_X509 ((uint16_t)2)

/* LeafNodeSource (§7.2) */
#define MLS_LEAF_SOURCE_KEY_PACKAGE ((uint8_t)1)
#define MLS_LEAF_SOURCE_UPDATE ((uint8_t)2)
#define MLS_LEAF_SOURCE_COMMIT ((uint8_t)3)

/* NodeType (§7.8) */
#define MLS_NODE_LEAF ((uint8_t)1)
#define MLS_NODE_PARENT ((uint8_t)2)

/* PSKType and ResumptionPSKUsage (§8.4) */
#define MLS_PSK_EXTERNAL ((uint8_t)1)
#define MLS_PSK_RESUMPTION ((uint8_t)2)
#define MLS_RESUMPTION_APPLICATION ((uint8_t)1)
#define MLS_RESUMPTION_REINIT ((uint8_t)2)
#define MLS_RESUMPTION_BRANCH ((uint8_t)3)

/* mls_is_grease returns 1 for the GREASE code points 0x0A0A, 0x1A1A, ...,
 * 0xEAEA (§13.5), which must be tolerated wherever code points appear. */
static inline int mls_is_grease(uint16_t v) {
  return (v & 0x0f0f) == 0x0a0a && (v >> 12) == ((v >> 4) & 0x0f) &&
         (v >> 12) <= 0x0e;
}

#endif
