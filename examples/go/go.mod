module github.com/ustb-openai/ustb-openai/examples/go

go 1.26
