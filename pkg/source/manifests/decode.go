package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// newDecoder returns a strict JSON decoder for the kinds Portico reads.
// Strict mode is what lets us name unknown fields (usually typos) in warnings;
// the object itself still decodes, as with the API server's default "Warn"
// field validation.
func newDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, networkingv1.AddToScheme, discoveryv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			// Registering generated types only fails on a programming error
			// (a type registered twice under different kinds): crash loudly.
			panic(fmt.Sprintf("manifests: registering API types: %v", err))
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Strict: true})
}

// supported reports whether Portico reads objects of this exact API version and kind.
func supported(gvk schema.GroupVersionKind) bool {
	switch gvk {
	case networkingv1.SchemeGroupVersion.WithKind("Ingress"),
		networkingv1.SchemeGroupVersion.WithKind("IngressClass"),
		corev1.SchemeGroupVersion.WithKind("Service"),
		corev1.SchemeGroupVersion.WithKind("Secret"),
		corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"):
		return true
	}
	return false
}

// currentVersion returns the API version Portico reads for a kind that the
// user wrote in another (usually retired) version, so the message can say
// exactly what to change.
func currentVersion(gk schema.GroupKind) (string, bool) {
	switch gk {
	case schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"},
		schema.GroupKind{Group: "extensions", Kind: "Ingress"},
		schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}:
		return networkingv1.SchemeGroupVersion.String(), true
	case schema.GroupKind{Kind: "Service"}, schema.GroupKind{Kind: "Secret"}, schema.GroupKind{Kind: "ConfigMap"}:
		return corev1.SchemeGroupVersion.String(), true
	case schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}:
		return discoveryv1.SchemeGroupVersion.String(), true
	}
	return "", false
}

// object is one decoded object plus where it came from. Objects are kept
// between loads (the last good version of each file) and never handed out:
// callers get deep copies.
type object struct {
	key  objectKey
	line int
	obj  runtime.Object
}

// objectKey identifies an object the way the API server does, for duplicate detection.
type objectKey struct {
	kind, namespace, name string
}

// String returns "Kind namespace/name", or "Kind name" for cluster-scoped kinds.
func (k objectKey) String() string {
	if k.namespace == "" {
		return k.kind + " " + k.name
	}
	return k.kind + " " + k.namespace + "/" + k.name
}

// document is one YAML document of a file.
type document struct {
	// line is the file line the document's first byte is on, so a line n
	// relative to the document is line+n-1 in the file.
	line int
	data []byte
}

// splitDocuments cuts a file at its "---" separators. We split ourselves,
// rather than with apimachinery's YAML reader, because we need to know on
// which line each document starts to report errors against the file.
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine := 0, 1
	line := 1
	for off := 0; off < len(data); line++ {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		if isSeparator(data[off:next]) {
			docs = append(docs, document{line: startLine, data: data[start:off]})
			// Whatever follows "---" on the same line ("--- # comment", or
			// even "--- {...}") belongs to the next document, so it starts on
			// this line, just after the marker.
			start, startLine = off+3, line
		}
		off = next
	}
	return append(docs, document{line: startLine, data: data[start:]})
}

// isSeparator reports whether a line is a YAML document start marker.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	// "---x" is a plain scalar, not a marker.
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n'
}

// firstContentLine returns the 1-based line of the document's first line that
// is neither blank nor a comment: the line a reader would call the document's
// start, e.g. "apiVersion: v1".
func firstContentLine(data []byte) int {
	for n, l := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(l)
		if n == 0 {
			// The first line may be what follows a "---" marker.
			t = strings.TrimSpace(strings.TrimPrefix(t, "---"))
		}
		if t != "" && !strings.HasPrefix(t, "#") {
			return n + 1
		}
	}
	return 1
}

// yamlLine matches the "line N: message" that go-yaml puts in its errors.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// lineMessage is one message of a YAML error, with its document-relative line (0 if unknown).
type lineMessage struct {
	line int
	msg  string
}

// splitYAMLError takes apart go-yaml's error text, which holds either one
// "yaml: line N: msg" or a list of "line N: msg" lines, so that each message
// can be reported at its line in the file rather than in the document.
func splitYAMLError(err error) []lineMessage {
	text := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	text = strings.TrimPrefix(text, "yaml: ")
	var lines []string
	if rest, ok := strings.CutPrefix(text, "unmarshal errors:\n"); ok {
		lines = strings.Split(rest, "\n")
	} else {
		lines = []string{text}
	}
	var out []lineMessage
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if m := yamlLine.FindStringSubmatch(l); m != nil {
			if n, convErr := strconv.Atoi(m[1]); convErr == nil {
				out = append(out, lineMessage{line: n, msg: m[2]})
				continue
			}
		}
		out = append(out, lineMessage{msg: l})
	}
	if len(out) == 0 {
		out = append(out, lineMessage{msg: text})
	}
	return out
}

// syntaxErrorLine returns the 1-based document line of a go-yaml syntax error.
// go-yaml v2 counts lines from 1 for scanner errors but from 0 for parser
// errors (its parser.fail adds 1 only for the former), and an error found at
// the end of the input points past the last line that has anything on it.
func syntaxErrorLine(data []byte, m lineMessage) int {
	line := m.line
	switch m.msg {
	case "did not find expected <stream-start>",
		"did not find expected <document start>",
		"did not find expected node content",
		"did not find expected key",
		"did not find expected '-' indicator",
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"found duplicate %TAG directive",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found undefined tag handle":
		line++
	}
	last := 1
	for n, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" {
			last = n + 1
		}
	}
	return min(line, last)
}

// indentedWithTab reports whether the given 1-based line of data is indented
// with a tab, the most common cause of the puzzling "found character that
// cannot start any token".
func indentedWithTab(data []byte, line int) bool {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return false
	}
	l := lines[line-1]
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	return strings.Contains(indent, "\t")
}

// fileParser decodes the documents of one file.
type fileParser struct {
	decoder  runtime.Decoder
	path     string
	objects  []object
	warnings []Problem
}

// utf8BOM is stripped because some Windows editors write it and go-yaml
// would otherwise count it as content.
const utf8BOM = "\xef\xbb\xbf"

// parseFile decodes every document of a file. A non-nil fatal Problem means
// the file must be skipped as a whole: loading half a file could, for
// example, keep an Ingress while dropping the Secret with its certificate.
func parseFile(decoder runtime.Decoder, path string, data []byte) (objects []object, warnings []Problem, fatal *Problem) {
	p := &fileParser{decoder: decoder, path: path}
	for _, doc := range splitDocuments(bytes.TrimPrefix(data, []byte(utf8BOM))) {
		if prob := p.document(doc); prob != nil {
			// Warnings about a version we do not use would only distract
			// from the error that has to be fixed first.
			return nil, nil, prob
		}
	}
	return p.objects, p.warnings, nil
}

// document decodes one YAML document into zero or more objects.
func (p *fileParser) document(doc document) *Problem {
	start := doc.line + firstContentLine(doc.data) - 1
	j, strictErr := yaml.YAMLToJSONStrict(doc.data)
	if strictErr != nil {
		// Strict conversion also fails on duplicate keys, which kubectl
		// tolerates (last one wins); only a lenient failure is a syntax error.
		var err error
		j, err = yaml.YAMLToJSON(doc.data)
		if err != nil {
			m := splitYAMLError(err)[0]
			line := start
			if m.line > 0 {
				line = doc.line + syntaxErrorLine(doc.data, m) - 1
			}
			text := "invalid YAML: " + m.msg
			if indentedWithTab(doc.data, line-doc.line+1) {
				text += " (YAML does not allow tabs in indentation: use spaces)"
			}
			return &Problem{File: p.path, Line: line, Err: &yamlError{text: text, err: err}}
		}
		for _, m := range splitYAMLError(strictErr) {
			line := start
			if m.line > 0 {
				line = doc.line + m.line - 1
			}
			p.warnings = append(p.warnings, Problem{File: p.path, Line: line, Severity: SeverityWarning,
				Err: &yamlError{text: m.msg + "; only the last value is used, delete the others", err: strictErr}})
		}
	}
	return p.decode(j, start, "")
}

// yamlError is a go-yaml error reworded and re-pointed at a line of the
// file; it keeps the original for errors.As.
type yamlError struct {
	text string
	err  error
}

// Error returns the reworded message, without go-yaml's document-relative line.
func (e *yamlError) Error() string { return e.text }

// Unwrap returns go-yaml's original error.
func (e *yamlError) Unwrap() error { return e.err }

// typeMeta is the part of an object read before choosing how to decode it.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// decode decodes one JSON object (a document, or an item of a List) found at line.
// where prefixes messages about List items, e.g. "items[2]: ".
func (p *fileParser) decode(j []byte, line int, where string) *Problem {
	fail := func(err error) *Problem {
		if where != "" {
			err = fmt.Errorf("%s: %w", where, err)
		}
		return &Problem{File: p.path, Line: line, Err: err}
	}
	warn := func(sev Severity, err error) {
		if where != "" {
			err = fmt.Errorf("%s: %w", where, err)
		}
		p.warnings = append(p.warnings, Problem{File: p.path, Line: line, Severity: sev, Err: err})
	}

	j = bytes.TrimSpace(j)
	if len(j) == 0 || bytes.Equal(j, []byte("null")) {
		return nil // an empty document, e.g. after a trailing "---"
	}
	if j[0] != '{' {
		return fail(errors.New("expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found a list or a plain value"))
	}
	var tm typeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return fail(fmt.Errorf("apiVersion and kind must be strings and metadata a mapping: %w", err))
	}
	if tm.Kind == "" {
		return fail(errors.New(`missing kind: every object needs apiVersion and kind, e.g. "apiVersion: v1" and "kind: Service"`))
	}
	if tm.APIVersion == "" {
		return fail(fmt.Errorf("%s has no apiVersion: add one, e.g. %q", tm.Kind, "apiVersion: v1"))
	}
	gv, err := schema.ParseGroupVersion(tm.APIVersion)
	if err != nil {
		return fail(fmt.Errorf("invalid apiVersion %q: %w", tm.APIVersion, err))
	}
	gvk := gv.WithKind(tm.Kind)
	if gvk == (schema.GroupVersionKind{Version: "v1", Kind: "List"}) {
		// The client-side List that `kubectl get -o yaml` writes.
		return p.list(j, line, where)
	}
	if !supported(gvk) {
		what := tm.APIVersion + " " + tm.Kind
		if tm.Metadata.Name != "" {
			what += " " + strconv.Quote(tm.Metadata.Name)
		}
		if v, ok := currentVersion(gvk.GroupKind()); ok {
			// Meant for us, so losing it is an error, but the rest of the
			// file is fine and still loads.
			warn(SeverityError, fmt.Errorf("%s is ignored: Portico reads %s only in apiVersion %s; convert it", what, tm.Kind, v))
			return nil
		}
		warn(SeverityWarning, fmt.Errorf("%s is ignored: Portico reads only Ingress, IngressClass, Service, EndpointSlice, Secret and ConfigMap", what))
		return nil
	}

	obj, _, err := p.decoder.Decode(j, nil, nil)
	var strictErrs []error
	if err != nil {
		se, ok := runtime.AsStrictDecodingError(err)
		if !ok || obj == nil {
			err = explainDecodeErr(gvk, err)
			return fail(fmt.Errorf("cannot decode %s %s: %w", tm.APIVersion, tm.Kind, err))
		}
		strictErrs = se.Errors()
	}
	key, err := normalize(obj)
	if err != nil {
		return fail(err)
	}
	for _, e := range strictErrs {
		warn(SeverityWarning, fmt.Errorf("%s: %w; it is ignored, check its spelling and indentation", key, e))
	}
	p.objects = append(p.objects, object{key: key, line: line, obj: obj})
	return nil
}

// explainDecodeErr adds what to do to the decoding errors people run into
// most, which the JSON decoder words in terms of Go types.
func explainDecodeErr(gvk schema.GroupVersionKind, err error) error {
	msg := err.Error()
	switch {
	case gvk.Kind == "Secret" && strings.Contains(msg, "base64"):
		return fmt.Errorf("%w (values under data must be base64; put plain text under stringData instead)", err)
	case strings.Contains(msg, "of type string") &&
		(strings.Contains(msg, "cannot unmarshal number") || strings.Contains(msg, "cannot unmarshal bool")):
		return fmt.Errorf("%w (quote the value: YAML reads 1, true, yes and on as numbers or booleans)", err)
	}
	return err
}

// list decodes the items of a kind: List, each as if it were its own document.
func (p *fileParser) list(j []byte, line int, where string) *Problem {
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j, &l); err != nil {
		err = fmt.Errorf("items of a List must be a list of objects: %w", err)
		if where != "" {
			err = fmt.Errorf("%s: %w", where, err)
		}
		return &Problem{File: p.path, Line: line, Err: err}
	}
	for i, item := range l.Items {
		if prob := p.decode(item, line, fmt.Sprintf("%sitems[%d]", prefix(where), i)); prob != nil {
			return prob
		}
	}
	return nil
}

// prefix turns a List item path into the start of a nested one.
func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + "."
}

// normalize applies the defaults the API server would apply on create, so
// that objects from files look like objects from a cluster to the model, and
// returns the object's key. It rejects objects the API server would reject
// for their name, since a name is how everything else refers to them.
func normalize(obj runtime.Object) (objectKey, error) {
	var (
		key      objectKey
		nameErrs []string
	)
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		key = namespacedKey("Ingress", &o.ObjectMeta)
		nameErrs = validation.IsDNS1123Subdomain(o.Name)
	case *networkingv1.IngressClass:
		// Cluster-scoped: the API server ignores a namespace here, and so
		// must we, or the key would depend on a meaningless field.
		o.Namespace = ""
		key = objectKey{kind: "IngressClass", name: o.Name}
		nameErrs = validation.IsDNS1123Subdomain(o.Name)
	case *corev1.Service:
		key = namespacedKey("Service", &o.ObjectMeta)
		nameErrs = validation.IsDNS1035Label(o.Name) // Service names become DNS labels
		defaultService(o)
	case *corev1.Secret:
		key = namespacedKey("Secret", &o.ObjectMeta)
		nameErrs = validation.IsDNS1123Subdomain(o.Name)
		defaultSecret(o)
	case *corev1.ConfigMap:
		key = namespacedKey("ConfigMap", &o.ObjectMeta)
		nameErrs = validation.IsDNS1123Subdomain(o.Name)
	case *discoveryv1.EndpointSlice:
		key = namespacedKey("EndpointSlice", &o.ObjectMeta)
		nameErrs = validation.IsDNS1123Subdomain(o.Name)
		defaultEndpointSlice(o)
	default:
		return key, fmt.Errorf("internal error: decoded an unexpected %T", obj)
	}

	meta, ok := obj.(metav1.Object)
	if !ok {
		return key, fmt.Errorf("internal error: %T has no metadata", obj)
	}
	where := key.kind
	if key.namespace != "" {
		where += " in namespace " + strconv.Quote(key.namespace)
	}
	switch {
	case key.name == "" && meta.GetGenerateName() != "":
		return key, fmt.Errorf("%s has metadata.generateName but no metadata.name: generateName only works when creating through the API; set metadata.name", where)
	case key.name == "":
		return key, fmt.Errorf("%s has no metadata.name: add one", where)
	case len(nameErrs) > 0:
		return key, fmt.Errorf("%s: invalid metadata.name %q: %s", where, key.name, strings.Join(nameErrs, "; "))
	}
	if key.namespace != "" {
		if errs := validation.IsDNS1123Label(key.namespace); len(errs) > 0 {
			return key, fmt.Errorf("%s: invalid metadata.namespace %q: %s", key, key.namespace, strings.Join(errs, "; "))
		}
	}
	return key, nil
}

// namespacedKey defaults the namespace, as kubectl does with no -n flag and
// no namespace in the file, and returns the key.
func namespacedKey(kind string, m *metav1.ObjectMeta) objectKey {
	if m.Namespace == "" {
		m.Namespace = metav1.NamespaceDefault
	}
	return objectKey{kind: kind, namespace: m.Namespace, name: m.Name}
}

// defaultService applies the API server's Service defaults that the model
// relies on when matching ports to endpoints.
func defaultService(svc *corev1.Service) {
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range svc.Spec.Ports {
		port := &svc.Spec.Ports[i]
		if port.Protocol == "" {
			port.Protocol = corev1.ProtocolTCP
		}
		if port.TargetPort == intstr.FromInt32(0) || port.TargetPort == intstr.FromString("") {
			port.TargetPort = intstr.FromInt32(port.Port)
		}
	}
}

// defaultSecret moves stringData into data, as the API server does on write,
// so consumers only ever look at data.
func defaultSecret(s *corev1.Secret) {
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v) // stringData wins over data, as on the API server
	}
	s.StringData = nil
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// defaultEndpointSlice applies the API server's EndpointPort defaults, so that
// a port without a name matches a Service port without a name.
func defaultEndpointSlice(es *discoveryv1.EndpointSlice) {
	for i := range es.Ports {
		port := &es.Ports[i]
		if port.Name == nil {
			port.Name = new("")
		}
		if port.Protocol == nil {
			port.Protocol = new(corev1.ProtocolTCP)
		}
	}
}
