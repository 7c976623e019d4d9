package jinja

// pos is a node's position in its template.
type pos struct{ line, col int }

func (p pos) position() pos { return p }

type node interface{ position() pos }

// Expressions.
type (
	constExpr struct {
		pos
		val any
	}
	nameExpr struct {
		pos
		name string
	}
	listExpr struct {
		pos
		items []node
	}
	tupleExpr struct {
		pos
		items []node
	}
	dictExpr struct {
		pos
		keys, vals []node
	}
	getattrExpr struct {
		pos
		obj  node
		attr string
	}
	getitemExpr struct {
		pos
		obj, arg node
	}
	sliceExpr struct {
		pos
		start, stop, step node // nil when absent
	}
	keyword struct {
		name string
		val  node
	}
	callArgs struct {
		args      []node
		kwargs    []keyword
		dynArgs   node
		dynKwargs node
	}
	callExpr struct {
		pos
		fn node
		callArgs
	}
	filterExpr struct {
		pos
		x    node // nil inside filter blocks / set blocks
		name string
		callArgs
	}
	testExpr struct {
		pos
		x    node
		name string
		callArgs
	}
	binExpr struct {
		pos
		op   string // + - * / // % ** and or
		l, r node
	}
	unaryExpr struct {
		pos
		op string // - + not
		x  node
	}
	compareOp struct {
		op string // eq ne lt lteq gt gteq in notin
		x  node
	}
	compareExpr struct {
		pos
		first node
		ops   []compareOp
	}
	concatExpr struct {
		pos
		items []node
	}
	condExpr struct {
		pos
		test, yes, no node // no may be nil
	}
	nsRef struct {
		pos
		name, attr string
	}
)

// Statements.
type (
	dataStmt struct {
		pos
		text string
	}
	outputStmt struct {
		pos
		x node
	}
	ifStmt struct {
		pos
		test  node
		body  []node
		elifs []*ifStmt
		els   []node
	}
	forStmt struct {
		pos
		target    node
		iter      node
		test      node
		recursive bool
		body, els []node
	}
	assignStmt struct {
		pos
		target node
		x      node
	}
	assignBlockStmt struct {
		pos
		target node
		filter node // filterExpr chain with nil base, or nil
		body   []node
	}
	blockStmt struct {
		pos
		name     string
		scoped   bool
		required bool
		body     []node
	}
	extendsStmt struct {
		pos
		tmpl node
	}
	includeStmt struct {
		pos
		tmpl          node
		ignoreMissing bool
		withContext   bool
	}
	importStmt struct {
		pos
		tmpl        node
		target      string
		withContext bool
	}
	fromImportStmt struct {
		pos
		tmpl        node
		names       [][2]string
		withContext bool
	}
	macroStmt struct {
		pos
		name     string
		args     []string
		defaults []node
		body     []node
	}
	callBlockStmt struct {
		pos
		call     *callExpr
		args     []string
		defaults []node
		body     []node
	}
	filterBlockStmt struct {
		pos
		filter node
		body   []node
	}
	withStmt struct {
		pos
		targets []node
		values  []node
		body    []node
	}
)
