module ustbopenai.example/ustb

go 1.26
