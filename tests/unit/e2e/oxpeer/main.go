// oxpeer is a test peer for OpenPGP for XMPP (XEP-0373/0374) built on gopenpgp 2.5.2, the
// library and version go-sendxmpp 0.5.6 uses. It reproduces go-sendxmpp's OX message flow
// offline: a <signcrypt> with <to>, <time>, <rpad> and <payload><body/></payload> (no
// origin-id), signed and encrypted to the recipient and to the sender's own key; and on
// receipt: decrypt, verify against the sender's key, check a <to> names us, read the body.
//
// Usage (one JSON object on stdin, one on stdout):
//
//	oxpeer genkey   {"jid"}                                        -> {"secret", "public"}
//	oxpeer encrypt  {"secret", "recipient", "to", "body"}          -> {"message"}
//	oxpeer decrypt  {"secret", "sender", "user", "message"}        -> {"body", "stamp"}
//
// OXPEER_UNIX_TIME, if set, fixes gopenpgp's clock (for reproducible test vectors).
//
// Keys: "secret" is an armored unlocked secret key, "public"/"recipient"/"sender" are base64
// binary public keys (as in the XEP-0373 PEP <data> element); "message" is the base64 text of
// the <openpgp> element.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/gopenpgp/v2/crypto"
	"github.com/beevik/etree"
)

const nsOx = "urn:xmpp:openpgp:0"

type request struct {
	JID       string `json:"jid"`
	Secret    string `json:"secret"`
	Recipient string `json:"recipient"`
	Sender    string `json:"sender"`
	To        string `json:"to"`
	User      string `json:"user"`
	Body      string `json:"body"`
	Message   string `json:"message"`
}

func publicKeyRing(b64 string) (*crypto.KeyRing, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	key, err := crypto.NewKey(raw)
	if err != nil {
		return nil, err
	}
	return crypto.NewKeyRing(key)
}

func genkey(req request) (map[string]string, error) {
	key, err := crypto.GenerateKey("xmpp:"+req.JID, "", "x25519", 0)
	if err != nil {
		return nil, err
	}
	armored, err := key.Armor()
	if err != nil {
		return nil, err
	}
	public, err := key.GetPublicKey()
	if err != nil {
		return nil, err
	}
	return map[string]string{"secret": armored, "public": base64.StdEncoding.EncodeToString(public)}, nil
}

func encrypt(req request) (map[string]string, error) {
	own, err := crypto.NewKeyFromArmored(req.Secret)
	if err != nil {
		return nil, err
	}
	signer, err := crypto.NewKeyRing(own)
	if err != nil {
		return nil, err
	}
	recipients, err := publicKeyRing(req.Recipient)
	if err != nil {
		return nil, err
	}
	ownPublic, err := own.ToPublic()
	if err != nil {
		return nil, err
	}
	if err := recipients.AddKey(ownPublic); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	sc := doc.CreateElement("signcrypt")
	sc.CreateAttr("xmlns", nsOx)
	sc.CreateElement("to").CreateAttr("jid", req.To)
	sc.CreateElement("time").CreateAttr("stamp", crypto.GetTime().UTC().Format("2006-01-02T15:04:05Z"))
	sc.CreateElement("rpad").CreateText("4Ukq1bX9")
	body := sc.CreateElement("payload").CreateElement("body")
	body.CreateAttr("xmlns", "jabber:client")
	body.CreateText(req.Body)
	text, err := doc.WriteToString()
	if err != nil {
		return nil, err
	}
	msg, err := recipients.Encrypt(crypto.NewPlainMessage([]byte(text)), signer)
	if err != nil {
		return nil, err
	}
	return map[string]string{"message": base64.StdEncoding.EncodeToString(msg.GetBinary())}, nil
}

func decrypt(req request) (map[string]string, error) {
	own, err := crypto.NewKeyFromArmored(req.Secret)
	if err != nil {
		return nil, err
	}
	ring, err := crypto.NewKeyRing(own)
	if err != nil {
		return nil, err
	}
	sender, err := publicKeyRing(req.Sender)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(req.Message)
	if err != nil {
		return nil, err
	}
	plain, err := ring.Decrypt(crypto.NewPGPMessage(raw), sender, crypto.GetUnixTime())
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(plain.GetBinary()); err != nil {
		return nil, err
	}
	sc := doc.SelectElement("signcrypt")
	if sc == nil {
		return nil, errors.New("no signcrypt element")
	}
	addressed := false
	for _, to := range sc.SelectElements("to") {
		if jid := to.SelectAttr("jid"); jid != nil && strings.Split(jid.Value, "/")[0] == req.User {
			addressed = true
		}
	}
	if !addressed {
		return nil, errors.New("not addressed to us")
	}
	stampElement := sc.SelectElement("time")
	if stampElement == nil || stampElement.SelectAttr("stamp") == nil {
		return nil, errors.New("no time stamp")
	}
	stamp, err := time.Parse("2006-01-02T15:04:05Z0700", stampElement.SelectAttr("stamp").Value)
	if err != nil {
		return nil, err
	}
	payload := sc.SelectElement("payload")
	if payload == nil || payload.SelectElement("body") == nil {
		return nil, errors.New("no body")
	}
	return map[string]string{
		"body":  payload.SelectElement("body").Text(),
		"stamp": stamp.UTC().Format(time.RFC3339),
	}, nil
}

func main() {
	var req request
	if fixed := os.Getenv("OXPEER_UNIX_TIME"); fixed != "" {
		unix, err := strconv.ParseInt(fixed, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "OXPEER_UNIX_TIME:", err)
			os.Exit(2)
		}
		crypto.UpdateTime(unix)
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: oxpeer genkey|encrypt|decrypt < request.json")
		os.Exit(2)
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	handlers := map[string]func(request) (map[string]string, error){
		"genkey": genkey, "encrypt": encrypt, "decrypt": decrypt,
	}
	handler, ok := handlers[os.Args[1]]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
	out, err := handler(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
